//! Content-stream bytes -> operands and operators (PDF 32000-1 §7.2, §7.8.2).
//!
//! The same PostScript-like syntax carries page content and CMaps, so both are read
//! here. The lexer never fails: malformed input becomes whatever tokens it can make of
//! it, and an unknown byte is skipped. Names and operators borrow from the input; only
//! strings (escapes, hex) and arrays allocate.

/// One operand of an operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand<'a> {
    Number(f64),
    Name(&'a [u8]),
    /// A literal `( )` or hex `< >` string, escapes resolved.
    Str(Vec<u8>),
    Array(Vec<Operand<'a>>),
    /// Dictionaries only matter to us as marked-content properties; kept as a marker.
    Dict,
    Bool(bool),
    Null,
}

impl Operand<'_> {
    pub fn number(&self) -> Option<f64> {
        match self {
            Operand::Number(n) => Some(*n),
            _ => None,
        }
    }
}

/// A syntactic item: an operand, or an operator keyword.
#[derive(Debug, Clone, PartialEq)]
pub enum Token<'a> {
    Operand(Operand<'a>),
    Operator(&'a [u8]),
}

/// Arrays deeper than this are flattened away (hostile input).
const MAX_DEPTH: usize = 32;

pub struct Lexer<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn is_white(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0')
}

fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(b: u8) -> bool {
    !is_white(b) && !is_delim(b)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl<'a> Lexer<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn skip_white(&mut self) {
        while self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            if is_white(b) {
                self.pos += 1;
            } else if b == b'%' {
                while self.pos < self.buf.len() && !matches!(self.buf[self.pos], b'\r' | b'\n') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// The next token, or `None` at the end of the input.
    pub fn next_token(&mut self) -> Option<Token<'a>> {
        loop {
            self.skip_white();
            let b = *self.buf.get(self.pos)?;
            match b {
                b']' | b'}' | b')' => {
                    // Unbalanced closers outside an array: skip.
                    self.pos += 1;
                }
                b'>' => {
                    self.pos += 1;
                    if self.buf.get(self.pos) == Some(&b'>') {
                        self.pos += 1;
                    }
                }
                b'{' => {
                    // PostScript procedures (Type 4 functions, CMap boilerplate): skip whole.
                    self.skip_braces();
                }
                _ => {
                    if let Some(op) = self.operand(0) {
                        return Some(Token::Operand(op));
                    }
                    let start = self.pos;
                    while self.pos < self.buf.len() && is_regular(self.buf[self.pos]) {
                        self.pos += 1;
                    }
                    if self.pos == start {
                        self.pos += 1; // a lone delimiter we cannot use
                        continue;
                    }
                    return Some(Token::Operator(&self.buf[start..self.pos]));
                }
            }
        }
    }

    fn skip_braces(&mut self) {
        let mut depth = 0usize;
        while self.pos < self.buf.len() {
            match self.buf[self.pos] {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos += 1;
                        return;
                    }
                }
                b'(' => {
                    self.literal_string();
                    continue;
                }
                _ => {}
            }
            self.pos += 1;
        }
    }

    /// An operand starting at `pos`, or `None` (position unchanged) when the bytes
    /// there are an operator keyword.
    fn operand(&mut self, depth: usize) -> Option<Operand<'a>> {
        let b = *self.buf.get(self.pos)?;
        match b {
            b'/' => {
                self.pos += 1;
                let start = self.pos;
                while self.pos < self.buf.len() && is_regular(self.buf[self.pos]) {
                    self.pos += 1;
                }
                Some(Operand::Name(&self.buf[start..self.pos]))
            }
            b'(' => Some(Operand::Str(self.literal_string())),
            b'<' => {
                if self.buf.get(self.pos + 1) == Some(&b'<') {
                    self.skip_dict();
                    Some(Operand::Dict)
                } else {
                    Some(Operand::Str(self.hex_string()))
                }
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_white();
                    match self.buf.get(self.pos) {
                        None => break,
                        Some(b']') => {
                            self.pos += 1;
                            break;
                        }
                        Some(_) => {
                            if depth < MAX_DEPTH {
                                if let Some(op) = self.operand(depth + 1) {
                                    items.push(op);
                                    continue;
                                }
                            }
                            // An operator inside an array is malformed: end the array
                            // there so the operator is still seen.
                            if self.buf[self.pos] == b'[' {
                                self.pos += 1;
                                continue;
                            }
                            break;
                        }
                    }
                }
                Some(Operand::Array(items))
            }
            b'+' | b'-' | b'.' | b'0'..=b'9' => self.number(),
            _ => {
                let start = self.pos;
                let mut end = start;
                while end < self.buf.len() && is_regular(self.buf[end]) {
                    end += 1;
                }
                let word = &self.buf[start..end];
                let value = match word {
                    b"true" => Operand::Bool(true),
                    b"false" => Operand::Bool(false),
                    b"null" => Operand::Null,
                    _ => return None,
                };
                self.pos = end;
                Some(value)
            }
        }
    }

    /// A number; malformed ones (`--5`, `1.2.3`, a lone `-`) read as far as they make
    /// sense, as Acrobat does, or as 0.
    fn number(&mut self) -> Option<Operand<'a>> {
        let start = self.pos;
        let mut end = start;
        while end < self.buf.len() && is_regular(self.buf[end]) {
            end += 1;
        }
        let word = &self.buf[start..end];
        if !word
            .iter()
            .all(|c| matches!(c, b'+' | b'-' | b'.' | b'0'..=b'9'))
        {
            // `0.5Tw` glued to an operator is not valid syntax; read the numeric prefix.
            let num_len = word
                .iter()
                .position(|c| !matches!(c, b'+' | b'-' | b'.' | b'0'..=b'9'))
                .unwrap_or(word.len());
            if num_len == 0 {
                return None;
            }
            self.pos = start + num_len;
            return Some(Operand::Number(parse_number(&word[..num_len])));
        }
        self.pos = end;
        Some(Operand::Number(parse_number(word)))
    }

    fn literal_string(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.pos += 1; // (
        let mut depth = 1usize;
        while self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            self.pos += 1;
            match b {
                b'(' => {
                    depth += 1;
                    out.push(b);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return out;
                    }
                    out.push(b);
                }
                b'\\' => {
                    let Some(&e) = self.buf.get(self.pos) else {
                        break;
                    };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if self.buf.get(self.pos) == Some(&b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut v = (e - b'0') as u32;
                            for _ in 0..2 {
                                match self.buf.get(self.pos) {
                                    Some(&d @ b'0'..=b'7') => {
                                        v = v * 8 + (d - b'0') as u32;
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push(v as u8);
                        }
                        other => out.push(other),
                    }
                }
                _ => out.push(b),
            }
        }
        out
    }

    fn hex_string(&mut self) -> Vec<u8> {
        self.pos += 1; // <
        let mut out = Vec::new();
        let mut high: Option<u8> = None;
        while self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            self.pos += 1;
            if b == b'>' {
                break;
            }
            if let Some(v) = hex_val(b) {
                match high.take() {
                    Some(h) => out.push(h << 4 | v),
                    None => high = Some(v),
                }
            }
        }
        if let Some(h) = high {
            out.push(h << 4); // an odd digit count: the last one is followed by 0
        }
        out
    }

    fn skip_dict(&mut self) {
        let mut depth = 0usize;
        while self.pos < self.buf.len() {
            match self.buf[self.pos] {
                b'<' if self.buf.get(self.pos + 1) == Some(&b'<') => {
                    depth += 1;
                    self.pos += 2;
                }
                b'>' if self.buf.get(self.pos + 1) == Some(&b'>') => {
                    self.pos += 2;
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                b'(' => {
                    self.literal_string();
                }
                _ => self.pos += 1,
            }
        }
    }

    /// After the `ID` operator of an inline image: skip its data up to and including
    /// `EI`. The data is binary, so `EI` counts only between whitespace (or at the end).
    pub fn skip_inline_image(&mut self) {
        // One whitespace byte follows ID.
        if self.buf.get(self.pos).copied().is_some_and(is_white) {
            self.pos += 1;
        }
        let b = self.buf;
        let mut i = self.pos;
        while i + 1 < b.len() {
            if b[i] == b'E'
                && b[i + 1] == b'I'
                && (i == 0 || is_white(b[i - 1]))
                && b.get(i + 2).is_none_or(|&c| is_white(c) || is_delim(c))
            {
                self.pos = i + 2;
                return;
            }
            i += 1;
        }
        self.pos = b.len();
    }
}

/// `12`, `-3.5`, `.5`, `4.` as f64; garbage reads as the longest valid prefix, or 0.
pub fn parse_number(word: &[u8]) -> f64 {
    let mut neg = false;
    let mut i = 0;
    while i < word.len() && matches!(word[i], b'+' | b'-') {
        neg ^= word[i] == b'-';
        i += 1;
    }
    let mut v = 0f64;
    let mut scale = 0f64;
    for &c in &word[i..] {
        match c {
            b'0'..=b'9' => {
                let d = (c - b'0') as f64;
                if scale == 0.0 {
                    v = v * 10.0 + d;
                } else {
                    v += d * scale;
                    scale /= 10.0;
                }
            }
            b'.' if scale == 0.0 => scale = 0.1,
            _ => break,
        }
    }
    if neg {
        -v
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(src: &[u8]) -> Vec<Token<'_>> {
        let mut l = Lexer::new(src);
        std::iter::from_fn(|| l.next_token()).collect()
    }

    #[test]
    fn operands_and_operators() {
        let t = tokens(b"BT /F1 12 Tf 1 0 0 1 72.5 -.5 Tm (a\\(b\\)\\101) Tj <4142 4> Tj ET");
        let op = |o: &'static [u8]| Token::Operator(o);
        let num = |n: f64| Token::Operand(Operand::Number(n));
        assert_eq!(
            t,
            vec![
                op(b"BT"),
                Token::Operand(Operand::Name(b"F1")),
                num(12.0),
                op(b"Tf"),
                num(1.0),
                num(0.0),
                num(0.0),
                num(1.0),
                num(72.5),
                num(-0.5),
                op(b"Tm"),
                Token::Operand(Operand::Str(b"a(b)A".to_vec())),
                op(b"Tj"),
                Token::Operand(Operand::Str(vec![0x41, 0x42, 0x40])),
                op(b"Tj"),
                op(b"ET"),
            ]
        );
    }

    #[test]
    fn tj_arrays_and_marked_content_dicts() {
        let t = tokens(b"[(A)-250(B)] TJ /Span <</ActualText (x) /N <<>> >> BDC EMC");
        assert_eq!(
            t[0],
            Token::Operand(Operand::Array(vec![
                Operand::Str(b"A".to_vec()),
                Operand::Number(-250.0),
                Operand::Str(b"B".to_vec()),
            ]))
        );
        assert_eq!(t[1], Token::Operator(b"TJ"));
        assert_eq!(t[3], Token::Operand(Operand::Dict));
        assert_eq!(t[4], Token::Operator(b"BDC"));
        assert_eq!(t[5], Token::Operator(b"EMC"));
    }

    #[test]
    fn inline_image_data_is_skipped() {
        let src = b"BI /W 2 /H 2 ID \x00EI\xffEIx EI Q (after) Tj";
        let mut l = Lexer::new(src);
        let mut seen = Vec::new();
        while let Some(t) = l.next_token() {
            if t == Token::Operator(b"ID") {
                l.skip_inline_image();
                continue;
            }
            seen.push(t);
        }
        assert_eq!(seen.last(), Some(&Token::Operator(b"Tj")));
        assert!(seen.contains(&Token::Operator(b"Q")));
        assert!(!seen.contains(&Token::Operator(b"EIx")));
    }

    #[test]
    fn garbage_never_panics() {
        for src in [
            &b"((((("[..],
            b"<<<<",
            b"[[[[[[",
            b"\\",
            b"(\\",
            b"<4",
            b"-",
            b"1.2.3 --4 Td",
            b"]]}}>>)",
        ] {
            let _ = tokens(src);
        }
        assert_eq!(parse_number(b"--4"), 4.0);
        assert_eq!(parse_number(b"1.2.3"), 1.2);
        assert_eq!(parse_number(b"-"), 0.0);
    }
}
