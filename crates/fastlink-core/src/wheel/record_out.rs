//! The RECORD an install writes: one row per installed file, as pip's
//! `get_csv_rows_for_installed` and `_normalized_outrows` make them and
//! Python's `csv.writer` writes them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// One row: a path relative to the root lib dir (`/`-separated, `..` for
/// what is outside it), `sha256=<digest>` or empty, the size or empty.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    pub path: String,
    pub hash: String,
    pub size: String,
}

impl Row {
    /// The row of a file pip rehashes (a generated or rewritten one).
    pub fn of_content(path: String, content: &[u8]) -> Row {
        Row {
            path,
            hash: hash(&Sha256::digest(content).into()),
            size: content.len().to_string(),
        }
    }

    /// A row with neither hash nor size (RECORD's own).
    pub fn bare(path: String) -> Row {
        Row {
            path,
            hash: String::new(),
            size: String::new(),
        }
    }
}

/// `sha256=` and the digest in URL-safe base64 without padding (pip's
/// `rehash`).
pub fn hash(digest: &[u8; 32]) -> String {
    format!("sha256={}", URL_SAFE_NO_PAD.encode(digest))
}

/// RECORD's text: the rows sorted as pip sorts them (by path, then hash,
/// then size, as strings: code point order, which is UTF-8 byte order),
/// each written as `csv.writer` does: `,` between fields, a field with `,`,
/// `"`, `\r` or `\n` in quotes with `"` doubled, `\r\n` after each row.
pub fn text(mut rows: Vec<Row>) -> String {
    rows.sort();
    let mut out = String::new();
    for row in &rows {
        for (i, field) in [&row.path, &row.hash, &row.size].into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            if field.contains([',', '"', '\r', '\n']) {
                out.push('"');
                out.push_str(&field.replace('"', "\"\""));
                out.push('"');
            } else {
                out.push_str(field);
            }
        }
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_quoted_as_python_csv() {
        let rows = vec![
            Row::bare("z-1.0.dist-info/RECORD".into()),
            Row::of_content("a,\"b\".py".into(), b""),
            Row::of_content("../../../bin/x".into(), b"x"),
            Row::of_content("é.py".into(), b"x"),
            Row::of_content("z.py".into(), b"x"),
        ];
        assert_eq!(
            text(rows),
            "../../../bin/x,sha256=LXEWQrcmsEQBYnyp-6wy9chTD7GQPMTbAiWHF5IaSIE,1\r\n\
             \"a,\"\"b\"\".py\",sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\r\n\
             z-1.0.dist-info/RECORD,,\r\n\
             z.py,sha256=LXEWQrcmsEQBYnyp-6wy9chTD7GQPMTbAiWHF5IaSIE,1\r\n\
             é.py,sha256=LXEWQrcmsEQBYnyp-6wy9chTD7GQPMTbAiWHF5IaSIE,1\r\n"
        );
    }
}
