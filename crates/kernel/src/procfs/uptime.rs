//! `/proc/uptime`: seconds since boot.

/// The first number of `/proc/uptime` (seconds since boot, including suspend).
pub fn parse(text: &str) -> Option<f64> {
    text.split_ascii_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses() {
        assert_eq!(super::parse("12345.67 23456.78\n"), Some(12345.67));
        assert_eq!(super::parse(""), None);
        assert_eq!(super::parse("abc 1"), None);
    }
}
