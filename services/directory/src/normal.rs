//! What the directory compares: names, dates of birth, postcodes,
//! addresses, registrations and agency identifiers, each folded to one form
//! (case, accents, spacing and punctuation removed) so that two spellings of
//! the same thing hash alike.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Letters and digits only, lower case, accents removed; every other
/// character separates words (apostrophes join: O'Brien is `obrien`).
fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfkd().filter(|c| !is_combining_mark(*c)) {
        if c == '\'' || c == '\u{2019}' {
            continue;
        }
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else {
            out.push(' ');
        }
    }
    out
}

/// A person's name as its folded parts, first name first (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    parts: Vec<String>,
}

impl Name {
    /// The name in `text`; `None` if it has no letters or digits.
    pub fn parse(text: &str) -> Option<Name> {
        let parts: Vec<String> = fold(text).split_whitespace().map(str::to_string).collect();
        (!parts.is_empty()).then_some(Name { parts })
    }

    /// Its parts, first name first (a hyphenated surname is two parts).
    pub fn parts(&self) -> &[String] {
        &self.parts
    }

    /// The first name's initial and the last part (the surname), when the
    /// name has two parts or more.
    pub fn initial_and_surname(&self) -> Option<(char, &str)> {
        let (first, rest) = self.parts.split_first()?;
        let surname = rest.last()?;
        Some((first.chars().next()?, surname))
    }
}

/// A date of birth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateOfBirth(time::Date);

impl DateOfBirth {
    /// An ISO 8601 date (`2009-04-17`); `None` if it is not one.
    pub fn parse(text: &str) -> Option<DateOfBirth> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(text.trim(), format).ok().map(DateOfBirth)
    }

    /// The same date with day and month swapped, when that is another valid date.
    pub fn transposed(self) -> Option<DateOfBirth> {
        let (year, month, day) = (self.0.year(), u8::from(self.0.month()), self.0.day());
        let swapped = time::Month::try_from(day).ok()?;
        let date = time::Date::from_calendar_date(year, swapped, month).ok()?;
        (date != self.0).then_some(DateOfBirth(date))
    }

    /// Its text form, `YYYY-MM-DD`.
    pub fn text(self) -> String {
        format!("{:04}-{:02}-{:02}", self.0.year(), u8::from(self.0.month()), self.0.day())
    }
}

/// Upper-case letters and digits only (for codes: postcodes,
/// registrations, identifiers), accents removed.
fn code(text: &str) -> String {
    fold(text).chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_uppercase).collect()
}

/// A UK postcode, without spaces, upper case (`HA37AB`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postcode(String);

impl Postcode {
    /// A postcode as written; `None` if it is not shaped like one (an
    /// outward code of 2 to 4 characters starting with a letter, and an
    /// inward code of a digit and two letters).
    pub fn parse(text: &str) -> Option<Postcode> {
        let code = code(text);
        let bytes = code.as_bytes();
        let n = bytes.len();
        let shaped = (5..=7).contains(&n)
            && bytes[0].is_ascii_alphabetic()
            && bytes[n - 3].is_ascii_digit()
            && bytes[n - 2..].iter().all(u8::is_ascii_alphabetic)
            && bytes.iter().all(u8::is_ascii_alphanumeric);
        shaped.then_some(Postcode(code))
    }

    /// The postcode at the end of an address (`12 High Street, Harrow HA3 7AB`).
    pub fn in_address(address: &str) -> Option<Postcode> {
        let words: Vec<&str> =
            address.split(|c: char| c.is_whitespace() || c == ',').filter(|w| !w.is_empty()).collect();
        let last = words.len().checked_sub(1)?;
        let two = last.checked_sub(1).map(|i| format!("{} {}", words[i], words[last]));
        two.and_then(|t| Postcode::parse(&t)).or_else(|| Postcode::parse(words[last]))
    }

    /// Its folded form.
    pub fn text(&self) -> &str {
        &self.0
    }
}

/// An address, folded (words separated by single spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address(String);

impl Address {
    /// An address as written; `None` if it has no letters or digits.
    pub fn parse(text: &str) -> Option<Address> {
        let folded = fold(text);
        let words: Vec<&str> = folded.split_whitespace().collect();
        (!words.is_empty()).then(|| Address(words.join(" ")))
    }

    /// Its folded form.
    pub fn text(&self) -> &str {
        &self.0
    }
}

/// A vehicle registration mark, upper case, without spaces (`AB12CDE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration(String);

impl Registration {
    /// A registration as written; `None` if it has no letters or digits.
    pub fn parse(text: &str) -> Option<Registration> {
        let code = code(text);
        (!code.is_empty()).then_some(Registration(code))
    }

    /// Its folded form.
    pub fn text(&self) -> &str {
        &self.0
    }
}

/// An agency's identifier for a subject: its scheme (`police.met.nw/crn`,
/// `nhs_number`), lower case, and its value, upper case without spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier {
    scheme: String,
    value: String,
}

impl Identifier {
    /// An identifier; `None` if the scheme or the value is empty.
    pub fn parse(scheme: &str, value: &str) -> Option<Identifier> {
        let scheme = scheme.trim().to_ascii_lowercase();
        let value = code(value);
        (!scheme.is_empty() && !value.is_empty()).then_some(Identifier { scheme, value })
    }

    /// Its folded form, `scheme value`.
    pub fn text(&self) -> String {
        format!("{} {}", self.scheme, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_case_accents_hyphens_and_apostrophes() {
        let name = Name::parse("  ZOË  Smith-Jones O'Brien").unwrap();
        assert_eq!(name.parts(), ["zoe", "smith", "jones", "obrien"]);
        assert_eq!(name.initial_and_surname(), Some(('z', "obrien")));
        assert_eq!(Name::parse("José").unwrap().initial_and_surname(), None);
        assert_eq!(Name::parse(" - "), None);
    }

    #[test]
    fn dates_transpose_only_into_another_valid_date() {
        let date = DateOfBirth::parse("2009-04-07").unwrap();
        assert_eq!(date.transposed().unwrap().text(), "2009-07-04");
        assert_eq!(DateOfBirth::parse("2009-04-17").unwrap().transposed(), None, "no 17th month");
        assert_eq!(DateOfBirth::parse("2009-05-05").unwrap().transposed(), None, "the same date");
        assert_eq!(DateOfBirth::parse("17/04/2009"), None);
    }

    #[test]
    fn postcodes_are_found_in_addresses_and_codes_lose_their_spaces() {
        assert_eq!(Postcode::parse("ha3 7ab").unwrap().text(), "HA37AB");
        assert_eq!(Postcode::in_address("12 High Street, Harrow HA3 7AB").unwrap().text(), "HA37AB");
        assert_eq!(Postcode::in_address("12 High Street, Harrow"), None);
        assert_eq!(Registration::parse("ab12 cde").unwrap().text(), "AB12CDE");
        assert_eq!(Identifier::parse("Police.Met.NW/crn", " 01/ 2345 ").unwrap().text(), "police.met.nw/crn 012345");
        assert_eq!(Address::parse("12, High St.").unwrap().text(), "12 high st");
    }
}
