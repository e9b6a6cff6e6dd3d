//! The plaintext of a backup: one JSON object per line, one line per stored item, in the order the
//! partition was read (sort-key order).
//!
//! ```text
//! {"pk":"TENANT#Cust12345","sk":"TENANT","data":{…},"expires_at":null,"version":3}
//! ```
//!
//! `data` is the item's document exactly as stored; `expires_at` is its expiry (Unix seconds), so a
//! restored item still expires when the original would have; `version` is the version it had when
//! it was read (a restore writes with its own conditions and does not reuse it). JSON lines keep
//! the format readable with standard tools once decrypted (`jq`), and let a reader stream a
//! partition of any size a line at a time.

use serde::{Deserialize, Serialize};

use crate::store::Item;

/// One backed-up item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub pk: String,
    pub sk: String,
    pub data: serde_json::Value,
    pub expires_at: Option<i64>,
    pub version: u64,
}

impl Line {
    pub fn of(item: &Item) -> Self {
        Self {
            pk: item.pk.clone(),
            sk: item.sk.clone(),
            data: item.data.clone(),
            expires_at: item.expires_at,
            version: item.version,
        }
    }

    /// Appends the line and its newline to `out`.
    pub fn write_to(item: &Item, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        serde_json::to_writer(&mut *out, &Line::of(item))?;
        out.push(b'\n');
        Ok(())
    }

    /// The item the line describes, to write back (version 0: the store numbers it).
    pub fn to_item(&self) -> Item {
        Item {
            pk: self.pk.clone(),
            sk: self.sk.clone(),
            data: self.data.clone(),
            expires_at: self.expires_at,
            version: 0,
        }
    }

    /// Whether a stored item holds what this line holds (document and expiry; versions differ after
    /// a restore and do not count).
    pub fn same_as(&self, item: &Item) -> bool {
        self.data == item.data && self.expires_at == item.expires_at
    }
}

/// Splits decrypted plaintext into complete lines, keeping an unfinished last line for the next
/// chunk. Parts of a backup always end at a line's end, so at the end of a partition nothing may be
/// left over.
#[derive(Debug, Default)]
pub struct LineReader {
    pending: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("line {line} is not a backed-up item: {source}")]
    NotAnItem {
        line: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("the plaintext ends in the middle of a line")]
    Unfinished,
}

impl LineReader {
    /// Feeds a chunk and calls `each` for every complete line in it, numbered from 1 across chunks
    /// (`counted` is how many lines came before).
    pub fn feed(
        &mut self,
        chunk: &[u8],
        counted: &mut u64,
        mut each: impl FnMut(Line) -> Result<(), LineError>,
    ) -> Result<(), LineError> {
        self.pending.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(end) = self.pending[start..].iter().position(|b| *b == b'\n') {
            let raw = &self.pending[start..start + end];
            *counted += 1;
            let line =
                serde_json::from_slice::<Line>(raw).map_err(|source| LineError::NotAnItem {
                    line: *counted,
                    source,
                })?;
            each(line)?;
            start += end + 1;
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// Ends the input: a partial line left over is an error.
    pub fn finish(self) -> Result<(), LineError> {
        if self.pending.is_empty() {
            Ok(())
        } else {
            Err(LineError::Unfinished)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn items_round_trip_through_lines_split_across_chunks() {
        let a = Item::new("TENANT#Cust1", "TENANT", json!({"name": "Ada\nLovelace"}));
        let b = Item::new("TENANT#Cust1", "USAGE#2027-01-15", json!({"calls": 5})).expiring_at(9);
        let mut out = Vec::new();
        Line::write_to(&a, &mut out).unwrap();
        Line::write_to(&b, &mut out).unwrap();
        assert_eq!(
            out.iter().filter(|c| **c == b'\n').count(),
            2,
            "a newline in data is escaped"
        );
        let mut reader = LineReader::default();
        let mut seen = Vec::new();
        let mut n = 0;
        for chunk in out.chunks(7) {
            reader
                .feed(chunk, &mut n, |l| {
                    seen.push(l);
                    Ok(())
                })
                .unwrap();
        }
        reader.finish().unwrap();
        assert_eq!(n, 2);
        assert!(seen[0].same_as(&a) && seen[1].same_as(&b));
        assert_eq!(seen[1].to_item().expires_at, Some(9));
    }

    #[test]
    fn a_cut_line_or_a_foreign_line_is_refused() {
        let mut reader = LineReader::default();
        let mut n = 0;
        reader.feed(b"{\"pk\":\"A\"", &mut n, |_| Ok(())).unwrap();
        assert!(matches!(reader.finish(), Err(LineError::Unfinished)));
        let mut reader = LineReader::default();
        let err = reader
            .feed(b"{\"pk\":\"A\",\"extra\":1}\n", &mut n, |_| Ok(()))
            .unwrap_err();
        assert!(matches!(err, LineError::NotAnItem { line: 1, .. }), "{err}");
    }
}
