//! Selecting scenarios by id with shell-style patterns: `*` matches any run of characters (`/` included),
//! `?` any one character; several patterns may be given, separated by commas.

/// Whether `id` matches any of the comma-separated `patterns`.
pub fn matches_any(patterns: &str, id: &str) -> bool {
    patterns
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .any(|p| matches(p, id))
}

/// Whether `text` matches `pattern`.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(matches(
            "merchant-payments/*",
            "merchant-payments/polling-success"
        ));
        assert!(matches("*", "a/b"));
        assert!(matches("*/not-found", "responses/not-found"));
        assert!(matches(
            "m?rchant*success",
            "merchant-payments/polling-success"
        ));
        assert!(!matches("merchant-payments/*", "heartbeat/available"));
        assert!(!matches("a", "ab"));
        assert!(matches("a**", "a"));
        assert!(matches_any("heartbeat/*, responses/*", "responses/found"));
        assert!(!matches_any("", "responses/found"));
    }
}
