//! Keyword text classification into `spam`, `transactional` or `ham`: the logic of the
//! `text-classifier` samples, kept in one place so the component, the legacy module and the
//! native benchmark floor all run exactly the same code.

/// Phrases typical of unsolicited advertising.
const SPAM: &[&str] = &[
    "buy now", "limited offer", "act now", "click here", "free money", "winner", "you have won",
    "risk-free", "100% free", "urgent", "cheap", "discount", "viagra", "crypto giveaway",
];

/// Phrases typical of receipts, notifications and account mail.
const TRANSACTIONAL: &[&str] = &[
    "order", "receipt", "invoice", "shipped", "delivery", "password reset", "verification code",
    "your account", "payment received", "confirmation", "subscription renewed",
];

/// The result of classifying one text.
#[derive(Debug, Clone, PartialEq)]
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
    let lower = text.to_lowercase();
    let spam: Vec<&'static str> = SPAM.iter().copied().filter(|p| lower.contains(p)).collect();
    let tx: Vec<&'static str> = TRANSACTIONAL.iter().copied().filter(|p| lower.contains(p)).collect();
    let shouting = text.matches('!').count() >= 2;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories() {
        assert_eq!(classify("Buy now! Limited offer!").category, "spam");
        assert_eq!(classify("Your order has shipped").category, "transactional");
        assert_eq!(classify("See you at lunch tomorrow?").category, "ham");
    }
}
