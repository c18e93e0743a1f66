//! The search API's scores, as Prometheus computes them: substring (by match position),
//! subsequence (runs rewarded, gaps penalised) and Jaro-Winkler, over characters (bytes when
//! both texts are ASCII), and the `search[]` terms' filter that keeps a value by its best.

use super::FuzzAlg;

/// Non-exact subsequence matches are scaled below 1.0 so they never tie an exact one.
const SUBSEQUENCE_NON_EXACT_SCALE: f64 = 0.999;
/// Winkler's prefix weight and the longest prefix it rewards.
const WINKLER_PREFIX_WEIGHT: f64 = 0.1;
const WINKLER_PREFIX_MAX: usize = 4;

/// Go's `strings.ToLower`: one lower-case character per character (simple case mapping, so
/// `İ` becomes `i` and a final `Σ` is `σ`, unlike `str::to_lowercase`).
pub(super) fn go_to_lower(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == '\u{130}' {
                return 'i';
            }
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) => l,
                _ => c,
            }
        })
        .collect()
}

/// Calls `on_bytes` with both texts' bytes when both are ASCII (the same sequence as their
/// characters, cheaper), else `on_chars` with their characters.
pub(super) fn with_units<R>(a: &str, b: &str, on_bytes: impl Fn(&[u8], &[u8]) -> R, on_chars: impl Fn(&[char], &[char]) -> R) -> R {
    if a.is_ascii() && b.is_ascii() {
        return on_bytes(a.as_bytes(), b.as_bytes());
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    on_chars(&a, &b)
}

/// Substring score: 1.0 for a prefix, else from 1.0 down to 0.1 as the first match lies
/// later (positions in characters); `None` when `query` does not occur in `value`.
pub(super) fn substring_score(query: &str, value: &str) -> Option<f64> {
    if query.is_empty() {
        return Some(1.0);
    }
    let at = value.find(query)?;
    if at == 0 {
        return Some(1.0);
    }
    let position = value[..at].chars().count() as i64;
    let last_position = value.chars().count() as i64 - query.chars().count() as i64;
    if last_position <= 0 {
        return Some(1.0);
    }
    Some(1.0 - 0.9 * position as f64 / last_position as f64)
}

/// Subsequence score in [0, 1]: 0 unless every character of `pattern` occurs in `text` in
/// order; 1 only for equal strings. From each start where the first character occurs (the
/// best one counts), characters are taken greedily in runs; the raw score is the sum of
/// squared run lengths less the gaps before and between runs (each per character of `text`)
/// and half the trailing gap, divided by the squared pattern length and scaled by 0.999.
pub(super) fn subsequence_score(pattern: &str, text: &str) -> f64 {
    if pattern.is_empty() || pattern == text {
        return 1.0;
    }
    if text.is_empty() || pattern.len() > text.len() {
        return 0.0;
    }
    with_units(pattern, text, subsequence_units, subsequence_units)
}

pub(super) fn subsequence_units<T: PartialEq>(pattern: &[T], text: &[T]) -> f64 {
    let (pattern_len, text_len) = (pattern.len(), text.len());
    if pattern_len > text_len {
        return 0.0;
    }
    let per_char = 1.0 / text_len as f64;
    let score_from = |start: usize| -> Option<f64> {
        let (mut i, mut next) = (start, 0);
        let mut score = 0.0;
        let mut previous_end: Option<usize> = None;
        while next < pattern_len {
            // The next occurrence of the pattern's next character starts a run.
            let from = i + text[i..].iter().position(|u| *u == pattern[next])?;
            let mut to = from;
            next += 1;
            while next < pattern_len && to + 1 < text_len && text[to + 1] == pattern[next] {
                to += 1;
                next += 1;
            }
            let gap = match previous_end {
                None => from,
                Some(end) => from - end - 1,
            };
            if gap > 0 {
                score -= gap as f64 * per_char;
            }
            let run = (to - from + 1) as f64;
            score += run * run;
            previous_end = Some(to);
            i = to + 1;
        }
        let trailing = text_len - 1 - previous_end?;
        if trailing > 0 {
            score -= trailing as f64 * per_char * 0.5;
        }
        Some(score)
    };
    let mut best = -1.0_f64;
    for (start, unit) in text.iter().enumerate().take(text_len - pattern_len + 1) {
        if *unit != pattern[0] {
            continue;
        }
        // A start that cannot complete the pattern leaves no later one that can.
        let Some(score) = score_from(start) else { break };
        if score > best {
            best = score;
        }
    }
    if best < 0.0 {
        return 0.0;
    }
    best / (pattern_len * pattern_len) as f64 * SUBSEQUENCE_NON_EXACT_SCALE
}

/// Jaro-Winkler similarity in [0, 1] (1 for equal strings, 0 when either is empty), counted
/// in characters, matching from the shorter string; prefix bonus on up to 4 characters.
pub(super) fn jaro_winkler(term: &str, text: &str) -> f64 {
    if term == text {
        return 1.0;
    }
    if term.is_empty() || text.is_empty() {
        return 0.0;
    }
    with_units(term, text, jaro_winkler_units, jaro_winkler_units)
}

pub(super) fn jaro_winkler_units<T: PartialEq>(a: &[T], b: &[T]) -> f64 {
    let (short, long) = if a.len() > b.len() { (b, a) } else { (a, b) };
    let (l1, l2) = (short.len(), long.len());
    let window = (l2 / 2).saturating_sub(1);
    let mut short_matched = vec![false; l1];
    let mut long_matched = vec![false; l2];
    let mut matches = 0.0_f64;
    for i in 0..l1 {
        for j in i.saturating_sub(window)..(i + window + 1).min(l2) {
            if !long_matched[j] && short[i] == long[j] {
                short_matched[i] = true;
                long_matched[j] = true;
                matches += 1.0;
                break;
            }
        }
    }
    if matches == 0.0 {
        return 0.0;
    }
    let mut transpositions = 0.0_f64;
    let mut k = 0;
    for i in (0..l1).filter(|&i| short_matched[i]) {
        while !long_matched[k] {
            k += 1;
        }
        if short[i] != long[k] {
            transpositions += 1.0;
        }
        k += 1;
    }
    let (inv_l1, inv_l2) = (1.0 / l1 as f64, 1.0 / l2 as f64);
    let jaro = (matches * inv_l1 + matches * inv_l2 + (matches - transpositions * 0.5) / matches) / 3.0;
    let prefix = (0..WINKLER_PREFIX_MAX.min(l1)).take_while(|&p| short[p] == long[p]).count();
    jaro + prefix as f64 * WINKLER_PREFIX_WEIGHT * (1.0 - jaro)
}

/// How one `search[]` term keeps and scores a value (already case-folded when asked).
#[derive(Debug)]
pub(super) enum TermFilter {
    /// A prefix scores 1; otherwise the subsequence score, kept when above 0 and at least
    /// the threshold.
    Subsequence { query: String, threshold: f64 },
    /// The substring score; failing that, with a threshold, Jaro-Winkler when at least it.
    SubstringOrJaroWinkler { query: String, threshold: Option<f64> },
}

impl TermFilter {
    pub(super) fn score(&self, value: &str) -> Option<f64> {
        match self {
            TermFilter::Subsequence { query, threshold } => {
                if value.starts_with(query.as_str()) {
                    return Some(1.0);
                }
                let score = subsequence_score(query, value);
                (score > 0.0 && score >= *threshold).then_some(score)
            }
            TermFilter::SubstringOrJaroWinkler { query, threshold } => substring_score(query, value).or_else(|| {
                let threshold = (*threshold)?;
                let score = jaro_winkler(query, value);
                (score >= threshold).then_some(score)
            }),
        }
    }
}

/// The `search[]` terms: a value is kept when any term keeps it, with the best score.
#[derive(Debug)]
pub(super) struct SearchFilter {
    terms: Vec<TermFilter>,
    case_fold: bool,
}

impl SearchFilter {
    /// `None` when no non-empty term is left: every value is kept, each scoring 1.
    pub(super) fn build(searches: &[String], fuzz_threshold: u8, fuzz_alg: FuzzAlg, case_sensitive: bool) -> Option<SearchFilter> {
        let threshold = f64::from(fuzz_threshold) / 100.0;
        let terms: Vec<TermFilter> = searches
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| if case_sensitive { s.clone() } else { go_to_lower(s) })
            .map(|query| match fuzz_alg {
                FuzzAlg::Subsequence => TermFilter::Subsequence { query, threshold },
                FuzzAlg::JaroWinkler => TermFilter::SubstringOrJaroWinkler { query, threshold: (fuzz_threshold > 0).then_some(threshold) },
            })
            .collect();
        (!terms.is_empty()).then_some(SearchFilter { terms, case_fold: !case_sensitive })
    }

    pub(super) fn score(&self, value: &str) -> Option<f64> {
        let folded;
        let value = if self.case_fold {
            folded = go_to_lower(value);
            folded.as_str()
        } else {
            value
        };
        let mut best: Option<f64> = None;
        for term in &self.terms {
            if let Some(score) = term.score(value) {
                let better = best.map_or(score, |b| b.max(score));
                best = Some(better);
                if better >= 1.0 {
                    break;
                }
            }
        }
        best
    }
}
