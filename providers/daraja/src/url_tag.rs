//! Tags on the transaction references the gateway puts in the callback URLs it gives Daraja.
//!
//! A result posted to `…/stk/{reference}` is accepted for that transaction even before Daraja's acknowledgement
//! (with its `CheckoutRequestID` or `ConversationID`) is recorded, and after a stop that lost it. Without a tag,
//! anyone who knows a transaction reference (its own client, for one) could post a forged result in that window.
//! With it, the URL is `…/stk/{reference}.{tag}`, where the tag is an HMAC-SHA256 of the reference under a key
//! derived from the Daraja consumer secret (shared by every gateway instance, known only to the gateway): a URL the
//! gateway did not issue names no transaction, and its result must then match an operator reference we recorded.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Bytes of the HMAC kept in a URL (128 bits).
const TAG_BYTES: usize = 16;

/// Tags and checks callback URL keys.
#[derive(Clone)]
pub struct UrlTagger {
    key: [u8; 32],
}

impl UrlTagger {
    /// A tagger whose key is derived from the Daraja consumer secret.
    pub fn new(consumer_secret: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"mmapi-gateway daraja callback url v1\0");
        hasher.update(consumer_secret.as_bytes());
        Self {
            key: hasher.finalize().into(),
        }
    }

    fn mac(&self, key: &str) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(key.as_bytes());
        mac
    }

    /// `key.tag`: what goes in the URL (`key` may span segments, e.g. `reference/conversation`).
    pub fn tagged(&self, key: &str) -> String {
        let tag = self.mac(key).finalize().into_bytes();
        format!("{key}.{}", hex::encode(&tag[..TAG_BYTES]))
    }

    /// The key of a tagged URL part, if the tag is the one the gateway gave it (checked in constant time).
    pub fn untagged<'a>(&self, tagged: &'a str) -> Option<&'a str> {
        let (key, tag) = tagged.rsplit_once('.')?;
        let tag = hex::decode(tag).ok()?;
        if tag.len() != TAG_BYTES {
            return None;
        }
        self.mac(key).verify_truncated_left(&tag).ok().map(|()| key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_gateways_own_tags_pass() {
        let tagger = UrlTagger::new("secret");
        let url = tagger.tagged("01a2129a2c6d75b892142ececaa0e2db");
        assert_eq!(url.len(), 32 + 1 + 32);
        assert_eq!(
            tagger.untagged(&url),
            Some("01a2129a2c6d75b892142ececaa0e2db")
        );
        let both = tagger.tagged("01a2/AG_20191219_0001");
        assert_eq!(tagger.untagged(&both), Some("01a2/AG_20191219_0001"));

        // Another key, another reference with this tag, a changed tag, no tag, a short tag.
        assert_eq!(UrlTagger::new("other").untagged(&url), None);
        let (_, tag) = url.rsplit_once('.').unwrap();
        assert_eq!(tagger.untagged(&format!("01b2.{tag}")), None);
        let mut flipped = url.clone();
        flipped.pop();
        flipped.push(if url.ends_with('0') { '1' } else { '0' });
        assert_eq!(tagger.untagged(&flipped), None);
        assert_eq!(tagger.untagged("01a2129a2c6d75b892142ececaa0e2db"), None);
        assert_eq!(tagger.untagged(&url[..url.len() - 2]), None);
        assert_eq!(tagger.untagged("x.zz"), None);
    }
}
