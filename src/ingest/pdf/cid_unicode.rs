//! CID -> Unicode for Adobe's CJK character collections (Adobe-GB1, -CNS1, -Japan1,
//! -Korea1), from Adobe's own `*-UCS2` CMaps (BSD-3; see `tables/LICENSES.md`).
//!
//! A CID font whose `/ToUnicode` is missing or incomplete still names its collection in
//! `/CIDSystemInfo`; the collection's table gives the characters, as poppler does with
//! its language packs. Each table is parsed on first use.

use std::collections::HashMap;
use std::sync::OnceLock;

pub struct Collection {
    /// Code point by CID; 0 where the CID has none.
    single: Vec<u32>,
    /// CIDs that stand for several code points (sequences such as "有限会社").
    multi: HashMap<u32, String>,
    reverse: OnceLock<HashMap<char, u32>>,
}

/// Variation selectors (U+FE00-FE0F, U+E0100-E01EF) tag a glyph variant; the text is
/// the base character.
fn is_variation_selector(c: char) -> bool {
    matches!(c as u32, 0xFE00..=0xFE0F | 0xE0100..=0xE01EF)
}

/// CIDs must stay below this (the largest collection, Adobe-GB1, ends at 30,283).
const MAX_CID: usize = 65_536;

impl Collection {
    /// Lines of `cid<TAB>HEX[<TAB>count]` or `cid<TAB>HEX+HEX...`.
    fn parse(source: &'static str) -> Collection {
        let mut single = Vec::new();
        let mut multi = HashMap::new();
        for line in source.lines() {
            let mut f = line.split('\t');
            let (Some(cid), Some(hex)) = (f.next(), f.next()) else {
                continue;
            };
            let Ok(cid) = cid.parse::<usize>() else {
                continue;
            };
            let count: usize = f.next().and_then(|c| c.parse().ok()).unwrap_or(1);
            if cid + count > MAX_CID {
                continue;
            }
            if hex.contains('+') {
                let text: String = hex
                    .split('+')
                    .filter_map(|h| u32::from_str_radix(h, 16).ok().and_then(char::from_u32))
                    .filter(|c| !is_variation_selector(*c))
                    .collect();
                let mut chars = text.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => set(&mut single, cid, c as u32),
                    (Some(_), Some(_)) => {
                        multi.insert(cid as u32, text);
                    }
                    _ => {}
                }
                continue;
            }
            let Ok(first) = u32::from_str_radix(hex, 16) else {
                continue;
            };
            for k in 0..count {
                set(&mut single, cid + k, first + k as u32);
            }
        }
        Collection {
            single,
            multi,
            reverse: OnceLock::new(),
        }
    }

    pub fn text(&self, cid: u32) -> Option<String> {
        if let Some(t) = self.multi.get(&cid) {
            return Some(t.clone());
        }
        let cp = *self.single.get(cid as usize)?;
        char::from_u32(cp)
            .filter(|&c| cp != 0 && c != '\u{FFFD}')
            .map(String::from)
    }

    /// The lowest CID that shows `c` (for widths of fonts whose codes are text).
    pub fn cid_of(&self, c: char) -> Option<u32> {
        let rev = self.reverse.get_or_init(|| {
            let mut m = HashMap::new();
            for (cid, &cp) in self.single.iter().enumerate() {
                if let Some(ch) = char::from_u32(cp).filter(|_| cp != 0) {
                    m.entry(ch).or_insert(cid as u32);
                }
            }
            m
        });
        rev.get(&c).copied()
    }
}

fn set(table: &mut Vec<u32>, cid: usize, cp: u32) {
    if table.len() <= cid {
        table.resize(cid + 1, 0);
    }
    table[cid] = cp;
}

/// The collection a `/CIDSystemInfo` `/Ordering` names (Adobe's registry).
pub fn collection(ordering: &[u8]) -> Option<&'static Collection> {
    static GB1: OnceLock<Collection> = OnceLock::new();
    static CNS1: OnceLock<Collection> = OnceLock::new();
    static JAPAN1: OnceLock<Collection> = OnceLock::new();
    static KOREA1: OnceLock<Collection> = OnceLock::new();
    let (cell, src): (&'static OnceLock<Collection>, &'static str) = match ordering {
        b"GB1" => (&GB1, include_str!("tables/Adobe-GB1.cidu")),
        b"CNS1" => (&CNS1, include_str!("tables/Adobe-CNS1.cidu")),
        b"Japan1" => (&JAPAN1, include_str!("tables/Adobe-Japan1.cidu")),
        b"Korea1" => (&KOREA1, include_str!("tables/Adobe-Korea1.cidu")),
        _ => return None,
    };
    Some(cell.get_or_init(|| Collection::parse(src)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_map_cids_to_text() {
        for ordering in [&b"GB1"[..], b"CNS1", b"Japan1", b"Korea1"] {
            let c = collection(ordering).unwrap();
            assert_eq!(c.text(34).as_deref(), Some("A"), "{ordering:?}");
            assert_eq!(c.text(0), None);
            assert_eq!(c.cid_of('A'), Some(34));
        }
        let gb1 = collection(b"GB1").unwrap();
        // Variation-selector sequences read as their base character.
        assert_eq!(gb1.text(22031).as_deref(), Some("\u{90CE}"));
        assert!(collection(b"Identity").is_none());
    }
}
