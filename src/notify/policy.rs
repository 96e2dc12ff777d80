//! Where client callbacks may go.
//!
//! - `X-Callback-URL` must use https; plain http only to a loopback host (`127.0.0.0/8`, `::1`, `localhost`)
//!   when loopback is allowed (in sandbox mode by default, `[callbacks] allow_loopback`).
//! - A host that is, or resolves to, anything but a public unicast address (private, loopback, link-local and
//!   the cloud metadata address, CGNAT, unspecified, multicast, documentation and reserved ranges, and the
//!   IPv6 forms that embed such an IPv4 address) is refused, unless the operator's
//!   `[callbacks] allowed_private_hosts` or the client's own `callback_hosts` list it, or it is a loopback
//!   address and loopback is allowed.
//! - IP literals are checked when the request arrives; host names when the callback is delivered, on every
//!   address they resolve to, and the connection goes to the checked addresses only ([`GuardedResolver`]), so
//!   a name that resolves to a public address at request time and to a private one later (DNS rebinding) gains
//!   nothing.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::Url;

use crate::config::CallbackSettings;

/// What kind of address an IP address is, for callbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    /// A public unicast address: callbacks may go there.
    Public,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`), IPv6 unique local `fc00::/7` and site-local `fec0::/10`.
    Private,
    /// `169.254.0.0/16` (including the cloud metadata address `169.254.169.254`), `fe80::/10`.
    LinkLocal,
    /// The CGNAT shared address space `100.64.0.0/10`.
    SharedAddressSpace,
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// Documentation, benchmarking, IETF protocol assignments, `240.0.0.0/4`, discard and Teredo ranges.
    Reserved,
}

impl AddressClass {
    /// How the class reads in an error.
    pub fn label(self) -> &'static str {
        match self {
            AddressClass::Public => "public",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link-local",
            AddressClass::SharedAddressSpace => "shared (CGNAT)",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Multicast => "multicast",
            AddressClass::Broadcast => "broadcast",
            AddressClass::Reserved => "reserved",
        }
    }
}

/// Classifies an address. IPv6 addresses that embed an IPv4 address (IPv4-mapped `::ffff:0:0/96`,
/// IPv4-compatible `::/96`, NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`, 6to4 `2002::/16`) are classified by the
/// IPv4 address they carry.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        _ if ip.is_broadcast() => AddressClass::Broadcast,
        (0, _, _) => AddressClass::Unspecified,
        (10, _, _) => AddressClass::Private,
        (100, 64..=127, _) => AddressClass::SharedAddressSpace,
        (127, _, _) => AddressClass::Loopback,
        (169, 254, _) => AddressClass::LinkLocal,
        (172, 16..=31, _) => AddressClass::Private,
        (192, 168, _) => AddressClass::Private,
        // IETF protocol assignments, TEST-NET-1/2/3, benchmarking.
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) | (198, 18..=19, _) => {
            AddressClass::Reserved
        }
        (224..=239, _, _) => AddressClass::Multicast,
        (240..=255, _, _) => AddressClass::Reserved,
        _ => AddressClass::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let s = ip.segments();
    if ip.is_unspecified() {
        AddressClass::Unspecified
    } else if ip.is_loopback() {
        AddressClass::Loopback
    } else if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfec0 {
        AddressClass::Private
    } else if s[0] & 0xffc0 == 0xfe80 {
        AddressClass::LinkLocal
    } else if s[0] & 0xff00 == 0xff00 {
        AddressClass::Multicast
    } else if (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0)
        || (s[0] == 0x2001 && s[1] < 0x0200)
        || s[0] & 0xe000 != 0x2000
    {
        // Documentation, discard, IETF protocol assignments (including Teredo), and everything outside the
        // global unicast 2000::/3.
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

/// The IPv4 address an IPv6 address carries, for the forms that route to it.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        // IPv4-mapped ::ffff:a.b.c.d
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some(low(hi, lo)),
        // IPv4-compatible ::a.b.c.d (deprecated), but not :: and ::1
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => Some(low(hi, lo)),
        // NAT64 well-known and local-use prefixes
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] | [0x64, 0xff9b, 1, _, _, _, hi, lo] => {
            Some(low(hi, lo))
        }
        // 6to4 2002:AABB:CCDD::/48
        [0x2002, hi, lo, ..] => Some(low(hi, lo)),
        _ => None,
    }
}

/// The address as IPv4 when it is an IPv4-mapped IPv6 address, so that allowlisted IPv4 networks match it.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Hosts and networks callbacks may reach although they are not public: the operator's
/// `allowed_private_hosts` or a client's `callback_hosts`. An entry is a network (`10.1.2.0/24`), an address
/// (`10.1.2.3`), a host name (`hooks.internal`) or all names under a domain (`*.hooks.internal`). A listed host
/// name may resolve to any address.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    networks: Vec<IpNet>,
    hosts: Vec<String>,
    suffixes: Vec<String>,
}

impl Allowlist {
    /// Parses entries; the first malformed one is the error.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut list = Allowlist::default();
        for entry in entries {
            list.add(entry.as_ref())?;
        }
        Ok(list)
    }

    /// Parses entries, skipping (and logging) malformed ones: for lists already stored.
    pub fn parse_lenient<S: AsRef<str>>(entries: &[S]) -> Self {
        let mut list = Allowlist::default();
        for entry in entries {
            if let Err(e) = list.add(entry.as_ref()) {
                tracing::warn!(error = %e, "ignoring a malformed callback host entry");
            }
        }
        list
    }

    fn add(&mut self, entry: &str) -> Result<(), String> {
        let entry = entry.trim();
        if let Ok(net) = entry.parse::<IpNet>() {
            self.networks.push(match net {
                IpNet::V6(v6) if v6.addr().to_ipv4_mapped().is_some() && v6.prefix_len() >= 96 => {
                    let v4 = v6.addr().to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED);
                    IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).map_err(|e| e.to_string())?
                }
                other => other.trunc(),
            });
        } else if let Ok(ip) = entry.parse::<IpAddr>() {
            self.networks.push(IpNet::from(canonical(ip)));
        } else if let Some(domain) = entry.strip_prefix("*.") {
            self.suffixes
                .push(format!(".{}", host_name(domain, entry)?));
        } else {
            self.hosts.push(host_name(entry, entry)?);
        }
        Ok(())
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty() && self.hosts.is_empty() && self.suffixes.is_empty()
    }

    /// Whether the host name (lowercase, without a trailing dot) is listed.
    pub fn permits_name(&self, name: &str) -> bool {
        self.hosts.iter().any(|h| h == name) || self.suffixes.iter().any(|s| name.ends_with(s))
    }

    /// Whether the address falls in a listed network.
    pub fn permits_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.networks.iter().any(|n| n.contains(&ip))
    }
}

/// A host name entry, normalised: lowercase, without a trailing dot, letters, digits, `-` and `.` only.
fn host_name(text: &str, entry: &str) -> Result<String, String> {
    let name = text.trim_end_matches('.').to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if valid {
        Ok(name)
    } else {
        Err(format!(
            "'{entry}' is neither a network, an address nor a host name"
        ))
    }
}

/// Why a callback destination is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// The gateway's rules for callback destinations.
#[derive(Clone, Debug, Default)]
pub struct CallbackPolicy {
    allow_loopback: bool,
    allowed: Allowlist,
}

impl CallbackPolicy {
    /// The policy of `[callbacks]`; loopback is allowed in sandbox mode unless `allow_loopback` says otherwise.
    pub fn new(settings: &CallbackSettings, sandbox: bool) -> Result<Self, String> {
        Ok(Self {
            allow_loopback: settings.allow_loopback.unwrap_or(sandbox),
            allowed: Allowlist::parse(&settings.allowed_private_hosts)
                .map_err(|e| format!("callbacks.allowed_private_hosts: {e}"))?,
        })
    }

    /// Whether loopback destinations are allowed.
    pub fn allows_loopback(&self) -> bool {
        self.allow_loopback
    }

    /// Checks a callback URL: the scheme, credentials, and the host when it is an IP literal (host names are
    /// checked on their resolved addresses at delivery). `client` is the client's own allowlist.
    pub fn check_url(&self, url: &Url, client: &Allowlist) -> Result<(), Refusal> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal("must not carry credentials".into()));
        }
        // The URL parser normalises IPv4 literals (`0x7f.1` is `127.0.0.1`) and brackets IPv6 ones.
        let host = url.host_str().unwrap_or_default();
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>();
        let loopback_host = match literal {
            Ok(ip) => {
                self.check_ip(ip, client)?;
                classify(ip) == AddressClass::Loopback
            }
            Err(_) => {
                let name = normalise(host);
                if name.is_empty() {
                    return Err(Refusal("has no host".into()));
                }
                name == "localhost" || name.ends_with(".localhost")
            }
        };
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.allow_loopback && loopback_host => Ok(()),
            "http" if self.allow_loopback => Err(Refusal(
                "must use https (plain http only to a loopback host)".into(),
            )),
            _ => Err(Refusal("must use https".into())),
        }
    }

    /// Checks one address.
    pub fn check_ip(&self, ip: IpAddr, client: &Allowlist) -> Result<(), Refusal> {
        match self.refused_class(ip, client) {
            None => Ok(()),
            Some(class) => Err(Refusal(format!(
                "{ip} is a {} address, which callbacks may not reach",
                class.label()
            ))),
        }
    }

    /// The class of an address callbacks may not reach; `None` when they may.
    fn refused_class(&self, ip: IpAddr, client: &Allowlist) -> Option<AddressClass> {
        match classify(ip) {
            AddressClass::Public => None,
            AddressClass::Loopback if self.allow_loopback => None,
            _ if self.allowed.permits_ip(ip) || client.permits_ip(ip) => None,
            class => Some(class),
        }
    }

    /// Checks every address `host` resolved to: all of them must be allowed (or the name listed).
    pub fn check_resolved(
        &self,
        host: &str,
        addresses: &[IpAddr],
        client: &Allowlist,
    ) -> Result<(), Refusal> {
        let name = normalise(host);
        if self.allowed.permits_name(&name) || client.permits_name(&name) {
            return Ok(());
        }
        if addresses.is_empty() {
            return Err(Refusal(format!("{host} resolves to no address")));
        }
        match addresses
            .iter()
            .find_map(|ip| self.refused_class(*ip, client).map(|class| (ip, class)))
        {
            None => Ok(()),
            Some((ip, class)) => Err(Refusal(format!(
                "{host} resolves to {ip}, a {} address, which callbacks may not reach",
                class.label()
            ))),
        }
    }
}

/// A host name as compared: lowercase, without a trailing dot.
fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// A DNS resolver for the callback HTTP client: resolves with the system resolver, then refuses the name
/// unless every address passes [`CallbackPolicy::check_resolved`]. The HTTP client connects only to the
/// addresses it returns.
pub struct GuardedResolver {
    pub policy: Arc<CallbackPolicy>,
    /// The client's own allowlist.
    pub client: Arc<Allowlist>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let client = self.client.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ips: Vec<IpAddr> = found.iter().map(SocketAddr::ip).collect();
            policy.check_resolved(&host, &ips, &client)?;
            let addresses: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addresses)
        })
    }
}

/// The [`Refusal`] somewhere in an error's chain of sources (a delivery refused by [`GuardedResolver`]).
pub fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refusal) = e.downcast_ref::<Refusal>() {
            return Some(refusal.clone());
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv4_classes() {
        use AddressClass::*;
        for (text, class) in [
            ("8.8.8.8", Public),
            ("1.1.1.1", Public),
            ("93.184.216.34", Public),
            ("172.15.255.255", Public),
            ("172.32.0.1", Public),
            ("100.63.255.255", Public),
            ("100.128.0.1", Public),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("172.16.0.1", Private),
            ("172.31.255.254", Private),
            ("192.168.1.1", Private),
            ("127.0.0.1", Loopback),
            ("127.10.20.30", Loopback),
            ("169.254.169.254", LinkLocal),
            ("169.254.0.1", LinkLocal),
            ("100.64.0.1", SharedAddressSpace),
            ("100.127.255.255", SharedAddressSpace),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("255.255.255.255", Broadcast),
            ("240.0.0.1", Reserved),
            ("192.0.2.10", Reserved),
            ("198.51.100.1", Reserved),
            ("203.0.113.5", Reserved),
            ("198.18.0.1", Reserved),
            ("192.0.0.170", Reserved),
        ] {
            assert_eq!(classify(ip(text)), class, "{text}");
        }
    }

    #[test]
    fn ipv6_classes() {
        use AddressClass::*;
        for (text, class) in [
            ("2606:4700:4700::1111", Public),
            ("2a00:1450:4001:82a::200e", Public),
            ("::1", Loopback),
            ("::", Unspecified),
            ("fc00::1", Private),
            ("fd12:3456:789a::1", Private),
            ("fec0::1", Private),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("ff02::1", Multicast),
            ("2001:db8::1", Reserved),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Reserved),
            ("100::1", Reserved),
            ("4000::1", Reserved),
        ] {
            assert_eq!(classify(ip(text)), class, "{text}");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_classified_by_the_ipv4_address() {
        use AddressClass::*;
        for (text, class) in [
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:a9fe:a9fe", LinkLocal),
            ("::ffff:100.64.0.1", SharedAddressSpace),
            ("::ffff:0.0.0.0", Unspecified),
            ("::ffff:8.8.8.8", Public),
            ("::10.0.0.1", Private),
            ("::127.0.0.1", Loopback),
            ("64:ff9b::10.0.0.1", Private),
            ("64:ff9b::8.8.8.8", Public),
            ("64:ff9b:1::a9fe:a9fe", LinkLocal),
            ("2002:7f00:1::", Loopback),
            ("2002:a00:1::1", Private),
            ("2002:808:808::1", Public),
        ] {
            assert_eq!(classify(ip(text)), class, "{text}");
        }
    }

    fn policy(allow_loopback: bool, allowed: &[&str]) -> CallbackPolicy {
        CallbackPolicy::new(
            &CallbackSettings {
                allow_loopback: Some(allow_loopback),
                allowed_private_hosts: allowed.iter().map(|s| s.to_string()).collect(),
                ..CallbackSettings::default()
            },
            false,
        )
        .unwrap()
    }

    fn check(p: &CallbackPolicy, url: &str) -> Result<(), Refusal> {
        p.check_url(&Url::parse(url).unwrap(), &Allowlist::default())
    }

    #[test]
    fn urls_outside_sandbox_mode() {
        let p = policy(false, &[]);
        assert!(check(&p, "https://example.com/cb").is_ok());
        assert!(check(&p, "https://8.8.8.8/cb").is_ok());
        // Host names are checked at delivery, on what they resolve to.
        assert!(check(&p, "https://localhost/cb").is_ok());
        for bad in [
            "http://example.com/cb",
            "http://10.0.0.1/x",
            "https://10.0.0.1/x",
            "https://169.254.169.254/",
            "https://[::ffff:169.254.169.254]/",
            "https://127.0.0.1:8443/cb",
            "https://0x7f.1/cb",
            "https://2130706433/cb",
            "https://[::1]/cb",
            "https://[fd00::1]/cb",
            "https://100.64.1.1/cb",
            "https://0.0.0.0/cb",
            "https://224.0.0.1/cb",
            "https://user:pw@example.com/",
            "ftp://example.com/",
        ] {
            assert!(check(&p, bad).is_err(), "{bad}");
        }
        let why = check(&p, "https://169.254.169.254/").unwrap_err().0;
        assert!(why.contains("link-local"), "{why}");
    }

    #[test]
    fn loopback_over_http_in_sandbox_mode() {
        let p = policy(true, &[]);
        for good in [
            "http://127.0.0.1:9000/cb",
            "http://[::1]:9000/cb",
            "http://localhost:9000/cb",
            "https://127.0.0.1/cb",
            "https://example.com/cb",
        ] {
            assert!(check(&p, good).is_ok(), "{good}");
        }
        for bad in [
            "http://example.com/cb",
            "http://10.0.0.1/x",
            "https://169.254.169.254/",
        ] {
            assert!(check(&p, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allowlists() {
        let p = policy(
            false,
            &["10.1.2.0/24", "hooks.internal", "*.corp.example", "fd00::5"],
        );
        assert!(check(&p, "https://10.1.2.3/cb").is_ok());
        assert!(check(&p, "https://[::ffff:10.1.2.3]/cb").is_ok());
        assert!(check(&p, "https://10.1.3.3/cb").is_err());
        assert!(check(&p, "https://[fd00::5]/cb").is_ok());
        // A listed name may resolve to private addresses; another name may not.
        let none = Allowlist::default();
        let private = [ip("10.9.9.9")];
        assert!(p.check_resolved("hooks.internal", &private, &none).is_ok());
        assert!(p.check_resolved("HOOKS.internal.", &private, &none).is_ok());
        assert!(p.check_resolved("a.corp.example", &private, &none).is_ok());
        assert!(p.check_resolved("corp.example", &private, &none).is_err());
        assert!(p.check_resolved("other.example", &private, &none).is_err());
        // Every address must pass.
        let mixed = [ip("8.8.8.8"), ip("169.254.169.254")];
        let why = p
            .check_resolved("evil.example", &mixed, &none)
            .unwrap_err()
            .0;
        assert_eq!(
            why,
            "evil.example resolves to 169.254.169.254, a link-local address, which callbacks may not reach"
        );
        assert!(p
            .check_resolved("good.example", &[ip("8.8.8.8")], &none)
            .is_ok());
        assert!(p.check_resolved("nothing.example", &[], &none).is_err());
        // A client's own list adds to the operator's.
        let client = Allowlist::parse(&["192.168.7.0/24", "mine.lan"]).unwrap();
        assert!(p
            .check_url(&Url::parse("https://192.168.7.1/").unwrap(), &client)
            .is_ok());
        assert!(check(&p, "https://192.168.7.1/").is_err());
        assert!(p
            .check_resolved("mine.lan", &[ip("127.0.0.1")], &client)
            .is_ok());
        // Loopback through a name, outside sandbox mode.
        assert!(p
            .check_resolved("localhost", &[ip("127.0.0.1"), ip("::1")], &none)
            .is_err());
        assert!(policy(true, &[])
            .check_resolved("localhost", &[ip("127.0.0.1"), ip("::1")], &none)
            .is_ok());
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in ["", "10.0.0.0/33", "bad host", "a..b", "*.", "x_y.example"] {
            assert!(Allowlist::parse(&[bad]).is_err(), "{bad:?}");
        }
        assert!(Allowlist::parse(&["::ffff:10.0.0.0/104"])
            .unwrap()
            .permits_ip(ip("10.0.0.7")));
    }

    #[test]
    fn refusals_are_found_in_error_chains() {
        #[derive(Debug)]
        struct Outer(Box<dyn std::error::Error + Send + Sync>);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("outer")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&*self.0)
            }
        }
        let e = Outer(Box::new(Refusal("no".into())));
        assert_eq!(refusal_in(&e), Some(Refusal("no".into())));
        let e = Outer(Box::new(std::io::Error::other("x")));
        assert_eq!(refusal_in(&e), None);
    }
}
