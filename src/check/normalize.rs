//! Full-width and typographic characters folded to ASCII, one char for one char,
//! so every offset in the folded text maps straight back to the original.

/// A folded copy of a text plus the offset maps back to the original.
pub struct Folded {
    pub text: String,
    /// For each byte offset of `text` that starts a char (and its end), the original byte offset.
    orig_byte: Vec<usize>,
    /// For each byte offset of `text`, the char index (same in both texts).
    char_index: Vec<usize>,
}

impl Folded {
    pub fn new(original: &str) -> Self {
        let mut text = String::with_capacity(original.len());
        let mut orig_byte = Vec::with_capacity(original.len() + 1);
        let mut char_index = Vec::with_capacity(original.len() + 1);
        for (ci, (ob, c)) in original.char_indices().enumerate() {
            let f = fold(c);
            for _ in 0..f.len_utf8() {
                orig_byte.push(ob);
                char_index.push(ci);
            }
            text.push(f);
        }
        orig_byte.push(original.len());
        char_index.push(original.chars().count());
        Self {
            text,
            orig_byte,
            char_index,
        }
    }

    pub fn orig_byte(&self, folded: usize) -> usize {
        self.orig_byte[folded]
    }

    pub fn char_index(&self, folded: usize) -> usize {
        self.char_index[folded]
    }
}

/// Fold one char: full-width digits, letters and signs to ASCII, typographic
/// minus to `-`, exotic spaces to a plain space. Everything else is kept.
fn fold(c: char) -> char {
    match c {
        // Full-width ASCII block: ！ to ～, except the Chinese comma, which is
        // kept so it can be told apart from a thousands separator in context.
        '\u{FF01}'..='\u{FF5E}' if c != '，' => {
            char::from_u32(c as u32 - 0xFF01 + 0x21).unwrap_or(c)
        }
        '\u{2212}' => '-',
        '\u{FFE5}' => '¥',
        '\u{00A0}' | '\u{2009}' | '\u{202F}' | '\u{3000}' => ' ',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_full_width_and_keeps_offsets() {
        let f = Folded::new("收入１，２３４．５％，");
        assert_eq!(f.text, "收入1，234.5%，");
        let pos = f.text.find('1').unwrap();
        assert_eq!(f.orig_byte(pos), "收入".len());
        assert_eq!(f.char_index(pos), 2);
        assert_eq!(f.orig_byte(f.text.len()), "收入１，２３４．５％，".len());
    }
}
