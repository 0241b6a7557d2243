//! Population denominators, from a small configurable CSV file.
//!
//! The file has a header line `borough,age,gender,ethnicity,count` and one row
//! per cell of the estimate, e.g.
//!
//! ```text
//! borough,age,gender,ethnicity,count
//! Harrow,10,*,*,2900
//! Harrow,10,*,white,1200
//! ```
//!
//! `gender` and `ethnicity` may be `*`, meaning all. A file may give totals,
//! breakdowns or both: a query uses, for each borough and single year of age,
//! the most aggregate rows that answer it (the `*,*` row if there is one,
//! otherwise the sum over ethnic groups, otherwise over genders, otherwise
//! over both), so totals and breakdowns are never added together. Blank lines
//! and lines starting with `#` are ignored; fields are not quoted.
//!
//! Genders: `female`, `male`, `other`, `not_known`. Ethnic groups: `white`,
//! `mixed`, `asian`, `black`, `other`, `not_known`. Borough names match the
//! events' `borough` field, ignoring case and surrounding spaces.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::path::Path;

use concord_core::pb::{Ethnicity, Gender};

/// The header a population file must start with.
pub const HEADER: &str = "borough,age,gender,ethnicity,count";

/// The ages the national youth justice indicators cover.
pub const YOUTH_AGES: RangeInclusive<u32> = 10..=17;

/// A population file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PopulationError {
    /// The file could not be opened or read.
    #[error("could not read the population file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is malformed.
    #[error("population file line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The file holds no rows.
    #[error("the population file has a header but no rows")]
    Empty,
}

/// One row of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopulationRow {
    /// Borough as written in the file.
    pub borough: String,
    /// Age in whole years.
    pub age: u32,
    /// `None` for `*` (all genders).
    pub gender: Option<Gender>,
    /// `None` for `*` (all ethnic groups).
    pub ethnicity: Option<Ethnicity>,
    /// Number of people.
    pub count: u64,
}

/// Population estimates by borough, single year of age, gender and ethnic group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Population {
    rows: Vec<PopulationRow>,
}

/// The ethnic groups the population file and the disproportionality table use,
/// in display order (`not_known` has no population).
pub const ETHNIC_GROUPS: [Ethnicity; 5] =
    [Ethnicity::White, Ethnicity::Mixed, Ethnicity::Asian, Ethnicity::Black, Ethnicity::Other];

/// The name of an ethnic group as written in files and reports' CSV (`white`, ...).
pub fn ethnicity_name(e: Ethnicity) -> &'static str {
    match e {
        Ethnicity::Unspecified => "unspecified",
        Ethnicity::White => "white",
        Ethnicity::Mixed => "mixed",
        Ethnicity::Asian => "asian",
        Ethnicity::Black => "black",
        Ethnicity::Other => "other",
        Ethnicity::NotKnown => "not_known",
    }
}

/// The display label of an ethnic group (`White`, `Not known`, ...).
pub fn ethnicity_label(e: Ethnicity) -> &'static str {
    match e {
        Ethnicity::Unspecified | Ethnicity::NotKnown => "Not known",
        Ethnicity::White => "White",
        Ethnicity::Mixed => "Mixed",
        Ethnicity::Asian => "Asian",
        Ethnicity::Black => "Black",
        Ethnicity::Other => "Other",
    }
}

/// The name of a gender as written in files (`female`, ...).
pub fn gender_name(g: Gender) -> &'static str {
    match g {
        Gender::Unspecified => "unspecified",
        Gender::Female => "female",
        Gender::Male => "male",
        Gender::Other => "other",
        Gender::NotKnown => "not_known",
    }
}

fn parse_gender(text: &str) -> Option<Option<Gender>> {
    match text {
        "*" => Some(None),
        _ => [Gender::Female, Gender::Male, Gender::Other, Gender::NotKnown]
            .into_iter()
            .find(|g| gender_name(*g) == text)
            .map(Some),
    }
}

fn parse_ethnicity(text: &str) -> Option<Option<Ethnicity>> {
    match text {
        "*" => Some(None),
        _ => [
            Ethnicity::White,
            Ethnicity::Mixed,
            Ethnicity::Asian,
            Ethnicity::Black,
            Ethnicity::Other,
            Ethnicity::NotKnown,
        ]
        .into_iter()
        .find(|e| ethnicity_name(*e) == text)
        .map(Some),
    }
}

fn same_borough(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

impl Population {
    /// Parses the text of a population file.
    pub fn parse(text: &str) -> Result<Self, PopulationError> {
        let mut rows: Vec<PopulationRow> = Vec::new();
        let mut seen = BTreeSet::new();
        let mut header_seen = false;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let fail = |message: String| PopulationError::Line { line, message };
            let trimmed = raw.trim().trim_start_matches('\u{feff}');
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if !header_seen {
                let header: Vec<String> = trimmed.split(',').map(|f| f.trim().to_ascii_lowercase()).collect();
                if header.join(",") != HEADER {
                    return Err(fail(format!("expected the header `{HEADER}`, found `{trimmed}`")));
                }
                header_seen = true;
                continue;
            }
            let fields: Vec<&str> = trimmed.split(',').map(str::trim).collect();
            let [borough, age, gender, ethnicity, count] = fields[..] else {
                return Err(fail(format!(
                    "expected 5 fields (borough,age,gender,ethnicity,count), found {}",
                    fields.len()
                )));
            };
            if borough.is_empty() || borough == "*" {
                return Err(fail("the borough is empty; name one borough per row".into()));
            }
            let age: u32 = age
                .parse()
                .ok()
                .filter(|a| *a <= 130)
                .ok_or_else(|| fail(format!("age `{age}` is not a whole number of years from 0 to 130")))?;
            let gender = parse_gender(&gender.to_ascii_lowercase())
                .ok_or_else(|| fail(format!("gender `{gender}` is not one of female, male, other, not_known or *")))?;
            let ethnicity = parse_ethnicity(&ethnicity.to_ascii_lowercase()).ok_or_else(|| {
                fail(format!("ethnicity `{ethnicity}` is not one of white, mixed, asian, black, other, not_known or *"))
            })?;
            let count: u64 =
                count.parse().map_err(|_| fail(format!("count `{count}` is not a whole number of people")))?;
            let key = (borough.to_ascii_lowercase(), age, gender.map(|g| g as i32), ethnicity.map(|e| e as i32));
            if !seen.insert(key) {
                return Err(fail(format!("a second row for {borough}, age {age}, the same gender and ethnicity")));
            }
            rows.push(PopulationRow { borough: borough.to_string(), age, gender, ethnicity, count });
        }
        if !header_seen {
            return Err(PopulationError::Line { line: 1, message: format!("the file is empty; expected `{HEADER}`") });
        }
        if rows.is_empty() {
            return Err(PopulationError::Empty);
        }
        Ok(Population { rows })
    }

    /// Reads and parses a population file.
    pub fn load(path: &Path) -> Result<Self, PopulationError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| PopulationError::Io { path: path.display().to_string(), source })?;
        Population::parse(&text)
    }

    /// The rows as read.
    pub fn rows(&self) -> &[PopulationRow] {
        &self.rows
    }

    /// The boroughs in the file, as first written.
    pub fn boroughs(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for row in &self.rows {
            if !out.iter().any(|b| same_borough(b, &row.borough)) {
                out.push(&row.borough);
            }
        }
        out
    }

    /// Whether the file has rows for this borough (`None`: any rows at all).
    pub fn covers(&self, borough: Option<&str>) -> bool {
        self.rows.iter().any(|r| borough.is_none_or(|b| same_borough(b, &r.borough)))
    }

    /// People of the ages in `ages`, in `borough` (`None`: every borough in the
    /// file), of `ethnicity` (`None`: all groups).
    pub fn count(&self, borough: Option<&str>, ages: RangeInclusive<u32>, ethnicity: Option<Ethnicity>) -> u64 {
        // Group the rows by (borough, age), then answer each cell from its most aggregate rows.
        let mut cells: BTreeMap<(String, u32), Vec<&PopulationRow>> = BTreeMap::new();
        for row in &self.rows {
            if ages.contains(&row.age) && borough.is_none_or(|b| same_borough(b, &row.borough)) {
                cells.entry((row.borough.to_ascii_lowercase(), row.age)).or_default().push(row);
            }
        }
        cells.values().map(|rows| cell_count(rows, ethnicity)).sum()
    }

    /// The population aged 10-17 in `borough` (`None`: every borough).
    pub fn aged_10_to_17(&self, borough: Option<&str>) -> u64 {
        self.count(borough, YOUTH_AGES, None)
    }

    /// The population aged 10-17 in `borough` (`None`: every borough) by
    /// ethnic group, for the groups in [`ETHNIC_GROUPS`].
    pub fn aged_10_to_17_by_ethnicity(&self, borough: Option<&str>) -> BTreeMap<Ethnicity, u64> {
        ETHNIC_GROUPS.iter().map(|e| (*e, self.count(borough, YOUTH_AGES, Some(*e)))).collect()
    }
}

/// The people in one (borough, age) cell, from its most aggregate rows.
fn cell_count(rows: &[&PopulationRow], ethnicity: Option<Ethnicity>) -> u64 {
    let sum = |keep: &dyn Fn(&PopulationRow) -> bool| -> Option<u64> {
        let matching: Vec<u64> = rows.iter().filter(|r| keep(r)).map(|r| r.count).collect();
        (!matching.is_empty()).then(|| matching.iter().sum())
    };
    match ethnicity {
        Some(e) => sum(&|r| r.ethnicity == Some(e) && r.gender.is_none())
            .or_else(|| sum(&|r| r.ethnicity == Some(e) && r.gender.is_some()))
            .unwrap_or(0),
        None => sum(&|r| r.ethnicity.is_none() && r.gender.is_none())
            .or_else(|| sum(&|r| r.ethnicity.is_some() && r.gender.is_none()))
            .or_else(|| sum(&|r| r.ethnicity.is_none() && r.gender.is_some()))
            .or_else(|| sum(&|r| r.ethnicity.is_some() && r.gender.is_some()))
            .unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# Test estimates
borough,age,gender,ethnicity,count
Harrow,9,*,*,3000
Harrow,10,*,*,2900
Harrow,10,*,white,1000
Harrow,10,*,black,500
Harrow,11,female,white,400
Harrow,11,male,white,450
Harrow,11,female,black,200
Harrow,11,male,black,210
Harrow,18,*,*,2800
Brent,12,*,*,3100
";

    #[test]
    fn totals_prefer_the_most_aggregate_rows() {
        let p = Population::parse(FILE).unwrap();
        // Age 10 from its `*,*` row (not adding its breakdown); age 11 from the
        // gender x ethnicity rows; 9 and 18 are out of range.
        assert_eq!(p.aged_10_to_17(Some("Harrow")), 2900 + 400 + 450 + 200 + 210);
        assert_eq!(p.aged_10_to_17(Some(" harrow ")), 4160);
        assert_eq!(p.aged_10_to_17(None), 4160 + 3100);
        assert_eq!(p.count(Some("Harrow"), 9..=9, None), 3000);
        let by = p.aged_10_to_17_by_ethnicity(Some("Harrow"));
        assert_eq!(by[&Ethnicity::White], 1000 + 400 + 450);
        assert_eq!(by[&Ethnicity::Black], 500 + 200 + 210);
        assert_eq!(by[&Ethnicity::Asian], 0);
        assert_eq!(p.boroughs(), vec!["Harrow", "Brent"]);
        assert!(p.covers(Some("BRENT")) && !p.covers(Some("Ealing")));
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("borough,age,count\nHarrow,10,5\n", 1, "header"),
            ("borough,age,gender,ethnicity,count\nHarrow,10,*,*\n", 2, "5 fields"),
            ("borough,age,gender,ethnicity,count\n\nHarrow,ten,*,*,5\n", 3, "age `ten`"),
            ("borough,age,gender,ethnicity,count\nHarrow,10,boy,*,5\n", 2, "gender `boy`"),
            ("borough,age,gender,ethnicity,count\nHarrow,10,*,green,5\n", 2, "ethnicity `green`"),
            ("borough,age,gender,ethnicity,count\nHarrow,10,*,*,-5\n", 2, "count `-5`"),
            ("borough,age,gender,ethnicity,count\nHarrow,10,*,*,5\nharrow,10,*,*,6\n", 3, "second row"),
            ("borough,age,gender,ethnicity,count\n,10,*,*,5\n", 2, "borough is empty"),
        ];
        for (text, want_line, want) in cases {
            match Population::parse(text) {
                Err(PopulationError::Line { line, message }) => {
                    assert_eq!(line, want_line, "{text}: {message}");
                    assert!(message.contains(want), "{message} should mention {want}");
                }
                other => panic!("{text}: expected a line error, got {other:?}"),
            }
        }
        assert!(matches!(Population::parse("borough,age,gender,ethnicity,count\n"), Err(PopulationError::Empty)));
        let err = Population::parse("x\n").unwrap_err().to_string();
        assert!(err.starts_with("population file line 1:"), "{err}");
    }

    #[test]
    fn loads_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("population.csv");
        std::fs::write(&path, FILE).unwrap();
        assert_eq!(Population::load(&path).unwrap(), Population::parse(FILE).unwrap());
        let missing = Population::load(&dir.path().join("nope.csv")).unwrap_err();
        assert!(matches!(missing, PopulationError::Io { .. }));
    }
}
