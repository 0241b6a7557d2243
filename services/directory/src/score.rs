//! How well a subject matches a search, and why: each field the search
//! gives scores 0 to 1 by its closest match (a name by the mean over its
//! parts), and the subject's score is the mean over the fields.

use concord_core::pb::{self, MatchField, MatchHow};

use crate::query::Query;

/// How much a match of each kind counts.
fn weight(how: MatchHow) -> f64 {
    match how {
        MatchHow::Exact => 1.0,
        MatchHow::Nickname => 0.9,
        MatchHow::Initial => 0.8,
        MatchHow::SoundsLike => 0.7,
        MatchHow::DayMonthTransposed => 0.6,
        MatchHow::Partial | MatchHow::Unspecified => 0.0,
    }
}

/// A subject's score and the reasons for it, from the search's terms it
/// matched (indexes into `query.wanted`); `None` if it matched none.
pub fn score(query: &Query, matched: &[usize]) -> Option<(f64, Vec<pb::MatchReason>)> {
    let best = |field: MatchField, part: usize| {
        matched
            .iter()
            .map(|&i| &query.wanted[i])
            .filter(|w| w.field == field && w.part == part)
            .max_by(|a, b| weight(a.how).total_cmp(&weight(b.how)))
            .map(|w| w.how)
    };
    let fields: Vec<MatchField> = {
        let mut fields: Vec<MatchField> = query.wanted.iter().map(|w| w.field).collect();
        fields.dedup();
        fields
    };
    let (mut total, mut reasons) = (0.0, Vec::new());
    for field in fields {
        let parts = if field == MatchField::Name { query.name_parts } else { 1 };
        let hows: Vec<Option<MatchHow>> = (0..parts).map(|part| best(field, part)).collect();
        let found: Vec<MatchHow> = hows.iter().flatten().copied().collect();
        // The weakest of the parts matched says how the field matched.
        let Some(&weakest) = found.iter().min_by(|a, b| weight(**a).total_cmp(&weight(**b))) else { continue };
        total += found.iter().map(|h| weight(*h)).sum::<f64>() / parts as f64;
        reasons.push(pb::MatchReason { field: field as i32, how: weakest as i32 });
        if found.len() < parts {
            reasons.push(pb::MatchReason { field: field as i32, how: MatchHow::Partial as i32 });
        }
    }
    (!reasons.is_empty()).then(|| (total / query.fields as f64, reasons))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, date: &str) -> Query {
        let request = pb::FindRequest { name: name.into(), date_of_birth: date.into(), ..Default::default() };
        Query::from_request(&request).unwrap()
    }

    fn matching(query: &Query, f: impl Fn(&crate::terms::Wanted) -> bool) -> Vec<usize> {
        (0..query.wanted.len()).filter(|i| f(&query.wanted[*i])).collect()
    }

    #[test]
    fn exact_matches_score_one_and_weaker_or_partial_ones_less() {
        let q = query("Jordan Testcase", "2009-02-03");
        let all_exact = matching(&q, |w| w.how == MatchHow::Exact);
        let (exact, reasons) = score(&q, &all_exact).unwrap();
        assert_eq!(exact, 1.0);
        assert!(reasons.iter().all(|r| r.how == MatchHow::Exact as i32), "{reasons:?}");

        let transposed = matching(&q, |w| {
            (w.field == MatchField::Name && w.how == MatchHow::Exact) || w.how == MatchHow::DayMonthTransposed
        });
        let (lower, reasons) = score(&q, &transposed).unwrap();
        assert!(lower < exact && lower > 0.5, "{lower}");
        let reason =
            pb::MatchReason { field: MatchField::DateOfBirth as i32, how: MatchHow::DayMonthTransposed as i32 };
        assert!(reasons.contains(&reason));

        let surname_only = matching(&q, |w| w.field == MatchField::Name && w.part == 1 && w.how == MatchHow::Exact);
        let (partial, reasons) = score(&q, &surname_only).unwrap();
        assert_eq!(partial, 0.25);
        assert!(reasons.iter().any(|r| r.how == MatchHow::Partial as i32));
        assert_eq!(score(&q, &[]), None);
    }
}
