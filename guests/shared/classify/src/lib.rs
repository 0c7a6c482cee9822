//! Keyword text classification into `spam`, `transactional` or `ham`: the logic of the
//! `text-classifier` samples, kept in one place so the component, the legacy module and the
//! native benchmark floor all run exactly the same code.

/// Phrases typical of unsolicited advertising.
const SPAM: &[&str] = &[
    "buy now",
    "limited offer",
    "act now",
    "click here",
    "free money",
    "winner",
    "you have won",
    "risk-free",
    "100% free",
    "urgent",
    "cheap",
    "discount",
    "viagra",
    "crypto giveaway",
];

/// Phrases typical of receipts, notifications and account mail.
const TRANSACTIONAL: &[&str] = &[
    "order",
    "receipt",
    "invoice",
    "shipped",
    "delivery",
    "password reset",
    "verification code",
    "your account",
    "payment received",
    "confirmation",
    "subscription renewed",
];

/// The arguments of the `classify` tool, `{"text": "..."}` (feature `serde`): the text is
/// borrowed from the JSON unless it holds escapes.
#[cfg(feature = "serde")]
#[derive(Debug, serde::Deserialize)]
pub struct Args<'a> {
    #[serde(borrow)]
    pub text: std::borrow::Cow<'a, str>,
}

/// The result of classifying one text; with feature `serde` it serializes as the tool's
/// answer, `{"category", "confidence", "matched"}`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Classification {
    /// `spam`, `transactional` or `ham`.
    pub category: &'static str,
    /// Between 0 and 1: how strongly the matched phrases point at the category.
    pub confidence: f64,
    /// The phrases that matched, in list order.
    pub matched: Vec<&'static str>,
}

/// Classifies `text` (case-insensitive). Spam wins over transactional when both match as
/// often, since a phishing mail dressed as a receipt is still spam.
pub fn classify(text: &str) -> Classification {
    // Case-insensitive matching without a lowered copy for ASCII text (the common case): the
    // phrases are lowercase ASCII, so comparing ASCII bytes ignoring case is the same as
    // matching in `text.to_lowercase()`. Other text is lowered first with Unicode's rules
    // (U+212A KELVIN SIGN lowers to an ASCII `k`, so the bytes alone would not do).
    let lowered;
    let haystack = if text.is_ascii() {
        text.as_bytes()
    } else {
        lowered = text.to_lowercase();
        lowered.as_bytes()
    };
    let found = scan(haystack);
    let spam: Vec<&'static str> = SPAM.iter().enumerate().filter(|(i, _)| found & (1 << i) != 0).map(|(_, p)| *p).collect();
    let tx: Vec<&'static str> =
        TRANSACTIONAL.iter().enumerate().filter(|(i, _)| found & (1 << (SPAM.len() + i)) != 0).map(|(_, p)| *p).collect();
    let shouting = text.bytes().filter(|&b| b == b'!').take(2).count() >= 2;
    let spam_score = spam.len() + usize::from(shouting);
    let (category, matched, score) = if spam_score > 0 && spam_score >= tx.len() {
        ("spam", spam, spam_score)
    } else if !tx.is_empty() {
        let n = tx.len();
        ("transactional", tx, n)
    } else {
        ("ham", Vec::new(), 0)
    };
    let confidence = if score == 0 { 0.6 } else { (0.5 + 0.2 * score as f64).min(0.99) };
    Classification { category, confidence, matched }
}

/// Every phrase, spam first: bit `i` of [`scan`]'s result is `PHRASES[i]`.
const PHRASES: [&str; SPAM.len() + TRANSACTIONAL.len()] = {
    let mut all = [""; SPAM.len() + TRANSACTIONAL.len()];
    let mut i = 0;
    while i < SPAM.len() {
        all[i] = SPAM[i];
        i += 1;
    }
    while i < all.len() {
        all[i] = TRANSACTIONAL[i - SPAM.len()];
        i += 1;
    }
    all
};

/// `AT[j][b]`: the phrases (as bits of `PHRASES`) whose byte `j` is `b`, in either case. A
/// phrase can start at a position only if its first three bytes agree with the text's.
const AT: [[u32; 256]; 3] = {
    let mut table = [[0u32; 256]; 3];
    let mut i = 0;
    while i < PHRASES.len() {
        let mut j = 0;
        while j < 3 {
            // Every phrase is at least 3 bytes long.
            let b = PHRASES[i].as_bytes()[j];
            table[j][b as usize] |= 1 << i;
            table[j][b.to_ascii_uppercase() as usize] |= 1 << i;
            j += 1;
        }
        i += 1;
    }
    table
};

/// Which phrases occur in `haystack`, ignoring ASCII case: one pass over the text, comparing
/// in full only the phrases whose first three bytes match there (searching for each phrase
/// in turn, as `str::contains` would, reads the text 25 times). The three table lookups
/// per position are branch-free; the branch after them is rarely taken.
fn scan(haystack: &[u8]) -> u32 {
    const ALL: u32 = (1 << PHRASES.len()) - 1;
    let mut found = 0u32;
    // Every phrase is at least 3 bytes long, so no match starts in the last two bytes.
    for (i, w) in haystack.windows(3).enumerate() {
        let mut candidates = AT[0][w[0] as usize] & AT[1][w[1] as usize] & AT[2][w[2] as usize] & !found;
        if candidates == 0 {
            continue;
        }
        while candidates != 0 {
            let k = candidates.trailing_zeros();
            candidates &= candidates - 1;
            let phrase = PHRASES[k as usize].as_bytes();
            if haystack[i..].len() >= phrase.len() && haystack[i..i + phrase.len()].eq_ignore_ascii_case(phrase) {
                found |= 1 << k;
            }
        }
        if found == ALL {
            break;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories() {
        assert_eq!(classify("Buy now! Limited offer!").category, "spam");
        assert_eq!(classify("Your order has shipped").category, "transactional");
        assert_eq!(classify("See you at lunch tomorrow?").category, "ham");
    }

    /// The one-pass scan finds exactly what `to_lowercase` + `contains` per phrase finds.
    #[test]
    fn scan_matches_contains() {
        let texts = [
            "",
            "BUY NOW",
            "you have wo",
            "xx100% FREE!!",
            "Your ACCOUNT: password Reset, ORDER #1, order shipped; delivery",
            "clic\u{212A} here, Ünïcödé ORDER",
            "winnerwinner cheapcheap",
            "verification cod",
            "r",
            "ORDE",
            "discoun",
            "ch",
            "xxcheap",
        ];
        for text in texts {
            let lower = text.to_lowercase();
            let expected: u32 = PHRASES.iter().enumerate().filter(|(_, p)| lower.contains(*p)).map(|(i, _)| 1 << i).sum();
            let haystack = if text.is_ascii() { text.as_bytes() } else { lower.as_bytes() };
            assert_eq!(scan(haystack), expected, "{text:?}");
        }
        assert_eq!(classify("clic\u{212A} here").matched, vec!["click here"]);
        assert!(PHRASES.iter().all(|p| p.len() >= 3 && !p.as_bytes().contains(&0)));
    }
}
