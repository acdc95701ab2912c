//! A wheel's RECORD: `path,sha256=<urlsafe base64, no padding>,size` per
//! file, written by Python's `csv` module (so a path with a comma or a quote
//! is quoted, a quote doubled).

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// What RECORD says one file must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The SHA-256 of the content; `None` where RECORD gives no hash (only
    /// RECORD itself and its signatures may have none).
    pub sha256: Option<[u8; 32]>,
    /// The length in bytes, where RECORD gives one.
    pub size: Option<u64>,
}

/// The files RECORD lists, by path.
pub type Record = HashMap<String, Expected>;

/// The members that carry no hash of their own: RECORD cannot hold its own
/// hash, and its signatures sign it.
pub fn is_record_itself(member: &str, dist_info: &str) -> bool {
    member
        .strip_prefix(dist_info)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|file| matches!(file, "RECORD" | "RECORD.jws" | "RECORD.p7s"))
}

/// Parse RECORD's text; `Err` names what is wrong (and the path, when the
/// fault is in one line).
pub fn parse(text: &str) -> Result<Record, String> {
    let mut record = Record::new();
    for row in rows(text)? {
        if row.iter().all(String::is_empty) {
            continue;
        }
        let [path, hash, size] = <[String; 3]>::try_from(row)
            .map_err(|row| format!("a line of RECORD has {} fields, not 3", row.len()))?;
        let expected = Expected {
            sha256: parse_hash(&hash).map_err(|why| format!("{path:?}: {why}"))?,
            size: match size.as_str() {
                "" => None,
                digits => Some(
                    digits
                        .parse()
                        .map_err(|_| format!("{path:?}: bad size {digits:?}"))?,
                ),
            },
        };
        if record.insert(path.clone(), expected).is_some() {
            return Err(format!("{path:?} is listed twice"));
        }
    }
    Ok(record)
}

/// `sha256=<digest>` to the digest. Only SHA-256, what every wheel builder
/// writes (the wheel spec forbids md5 and sha1); a stronger algorithm is
/// refused rather than skipped, so no member goes unchecked.
fn parse_hash(field: &str) -> Result<Option<[u8; 32]>, String> {
    if field.is_empty() {
        return Ok(None);
    }
    let Some((algorithm, digest)) = field.split_once('=') else {
        return Err(format!("bad hash {field:?}"));
    };
    if algorithm != "sha256" {
        return Err(format!("unsupported hash algorithm {algorithm:?}"));
    }
    // Some writers pad; the spec says not to, and padding changes nothing.
    let bytes = URL_SAFE_NO_PAD
        .decode(digest.trim_end_matches('='))
        .map_err(|_| format!("bad hash {field:?}"))?;
    let digest = <[u8; 32]>::try_from(bytes).map_err(|_| format!("bad hash {field:?}"))?;
    Ok(Some(digest))
}

/// The rows of CSV text as Python's `csv` writes it: `,` between fields,
/// `"` quoting, `""` a quote inside quotes, `\n` or `\r\n` ending a row.
pub(crate) fn rows(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            c => field.push(c),
        }
    }
    if quoted {
        return Err("RECORD ends inside a quoted field".to_string());
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_python_csv_writes() {
        let hash = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let text = format!(
            "a/b.py,sha256={hash},12\r\n\"c,\"\"d\"\".txt\",sha256={hash},0\r\nx-1.0.dist-info/RECORD,,\r\n"
        );
        let record = parse(&text).unwrap();
        assert_eq!(record.len(), 3);
        assert_eq!(
            record["a/b.py"],
            Expected {
                sha256: Some([7; 32]),
                size: Some(12)
            }
        );
        assert_eq!(record["c,\"d\".txt"].size, Some(0));
        assert_eq!(
            record["x-1.0.dist-info/RECORD"],
            Expected {
                sha256: None,
                size: None
            }
        );
    }

    #[test]
    fn refuses_what_cannot_be_checked() {
        let hash = URL_SAFE_NO_PAD.encode([7u8; 32]);
        for text in [
            "a,md5=abc,1\n".to_string(),
            "a,sha256=!!,1\n".to_string(),
            format!("a,sha256={hash},x\n"),
            format!("a,sha256={hash}\n"),
            format!("a,sha256={hash},1\na,sha256={hash},1\n"),
            "\"a,,\n".to_string(),
        ] {
            assert!(parse(&text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn record_and_its_signatures_are_itself() {
        assert!(is_record_itself("x-1.dist-info/RECORD", "x-1.dist-info"));
        assert!(is_record_itself(
            "x-1.dist-info/RECORD.jws",
            "x-1.dist-info"
        ));
        assert!(!is_record_itself("x-1.dist-info/WHEEL", "x-1.dist-info"));
        assert!(!is_record_itself("y/x-1.dist-info/RECORD", "x-1.dist-info"));
    }
}
