//! A search as the directory understands it: the request's terms checked
//! and folded, the terms it looks up, and how they are written into the
//! search's access record (as tokens: the audit log holds no names).

use std::collections::BTreeMap;

use concord_core::pb::{self, MatchField};
use concord_core::status::invalid_argument;
use tonic::Status;

use crate::key::{DirectoryKey, Label};
use crate::normal::{Address, DateOfBirth, Identifier, Name, Postcode, Registration};
use crate::terms::{self, Wanted};

/// How many hits a search returns unless it asks for fewer or more.
const DEFAULT_LIMIT: usize = 10;
/// The most hits a search returns.
const MAX_LIMIT: usize = 100;

/// A checked search.
#[derive(Debug, Clone)]
pub struct Query {
    /// Only subjects of this kind (`None`: any).
    pub kind: Option<pb::SubjectKind>,
    /// The terms looked up.
    pub wanted: Vec<Wanted>,
    /// How many parts the name searched for has (0: no name).
    pub name_parts: usize,
    /// How many fields the search gives (each scores 0 to 1).
    pub fields: usize,
    /// How many hits at most.
    pub limit: usize,
}

fn given(text: &str) -> Option<&str> {
    let text = text.trim();
    (!text.is_empty()).then_some(text)
}

impl Query {
    /// The search `request` asks for; INVALID_ARGUMENT naming the field at
    /// fault if a term is malformed or none is given.
    pub fn from_request(request: &pb::FindRequest) -> Result<Query, Status> {
        let kind = match pb::SubjectKind::try_from(request.kind) {
            Ok(pb::SubjectKind::Unspecified) => None,
            Ok(kind) => Some(kind),
            Err(_) => return Err(invalid_argument("kind", "must be person, place, vehicle or group")),
        };
        let limit = Query::limit(request.limit)?;
        let mut query = Query { kind, wanted: Vec::new(), name_parts: 0, fields: 0, limit };
        if let Some(text) = given(&request.name) {
            let name = Name::parse(text).ok_or_else(|| invalid_argument("name", "has no letters"))?;
            query.name_parts = name.parts().len();
            query.add(terms::wanted_name(&name));
        }
        if let Some(text) = given(&request.date_of_birth) {
            let date = DateOfBirth::parse(text)
                .ok_or_else(|| invalid_argument("date_of_birth", "write it as YYYY-MM-DD, e.g. 2009-04-17"))?;
            query.add(terms::wanted_date(date));
        }
        if let Some(text) = given(&request.postcode) {
            let postcode = Postcode::parse(text)
                .ok_or_else(|| invalid_argument("postcode", "is not a UK postcode, e.g. HA3 7AB"))?;
            query.add(vec![terms::wanted_exact(Label::Postcode, MatchField::Postcode, postcode.text())]);
        }
        if let Some(text) = given(&request.address) {
            let address =
                Address::parse(text).ok_or_else(|| invalid_argument("address", "has no letters or digits"))?;
            query.add(vec![terms::wanted_exact(Label::Address, MatchField::Address, address.text())]);
        }
        if let Some(text) = given(&request.registration) {
            let registration = Registration::parse(text)
                .ok_or_else(|| invalid_argument("registration", "has no letters or digits"))?;
            query.add(vec![terms::wanted_exact(Label::Registration, MatchField::Registration, registration.text())]);
        }
        if let Some(id) = &request.identifier {
            let identifier = Identifier::parse(&id.scheme, &id.value).ok_or_else(|| {
                invalid_argument("identifier", "give its scheme (e.g. police.met.nw/crn) and its value")
            })?;
            query.add(vec![terms::wanted_exact(Label::Identifier, MatchField::Identifier, &identifier.text())]);
        }
        if query.fields == 0 {
            return Err(invalid_argument(
                "name",
                "give at least one term: name, date_of_birth, postcode, address, registration or identifier",
            ));
        }
        Ok(query)
    }

    /// How many hits a request asking for `limit` gets; INVALID_ARGUMENT
    /// past the most a search returns.
    pub fn limit(limit: u32) -> Result<usize, Status> {
        match limit as usize {
            0 => Ok(DEFAULT_LIMIT),
            n if n <= MAX_LIMIT => Ok(n),
            _ => Err(invalid_argument("limit", &format!("at most {MAX_LIMIT}"))),
        }
    }

    fn add(&mut self, wanted: Vec<Wanted>) {
        self.fields += 1;
        self.wanted.extend(wanted);
    }

    /// The search's parameters as its access record holds them: each term
    /// as the directory's keyed hash (the audit log holds no names; the
    /// read side, holding the key, can tell whether a record searched for
    /// given terms), the rest as asked.
    pub fn audited(&self, key: &DirectoryKey) -> String {
        let mut terms: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for w in self.wanted.iter().filter(|w| w.how == pb::MatchHow::Exact) {
            let field = w.field.as_str_name().trim_start_matches("MATCH_FIELD_").to_ascii_lowercase();
            terms.entry(field).or_default().push(key.token(w.term.label, &w.term.text).hex());
        }
        let kind = self.kind.map(|k| k.as_str_name().trim_start_matches("SUBJECT_KIND_").to_ascii_lowercase());
        serde_json::json!({ "kind": kind, "terms": terms, "limit": self.limit }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_or_missing_terms_are_refused_naming_the_field() {
        let field_of = |request: pb::FindRequest| {
            let status = Query::from_request(&request).unwrap_err();
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
            status.message().to_string()
        };
        assert!(field_of(pb::FindRequest::default()).contains("at least one term"));
        let bad_date = pb::FindRequest { date_of_birth: "17/04/2009".into(), ..Default::default() };
        assert!(field_of(bad_date).contains("date_of_birth"));
        let bad_postcode = pb::FindRequest { postcode: "Harrow".into(), ..Default::default() };
        assert!(field_of(bad_postcode).contains("postcode"));
        let too_many = pb::FindRequest { name: "Jo".into(), limit: 1000, ..Default::default() };
        assert!(field_of(too_many).contains("limit"));
    }

    #[test]
    fn the_access_record_holds_tokens_never_the_terms() {
        let request = pb::FindRequest {
            name: "Jordan Testcase".into(),
            date_of_birth: "2009-02-03".into(),
            ..Default::default()
        };
        let query = Query::from_request(&request).unwrap();
        assert_eq!((query.fields, query.name_parts, query.limit), (2, 2, DEFAULT_LIMIT));
        let audited = query.audited(&DirectoryKey::new([7; 32]));
        for plain in ["jordan", "Jordan", "testcase", "2009"] {
            assert!(!audited.contains(plain), "{audited}");
        }
        let parsed: serde_json::Value = serde_json::from_str(&audited).unwrap();
        assert_eq!(parsed["terms"]["name"].as_array().unwrap().len(), 2);
        assert_eq!(parsed["terms"]["date_of_birth"].as_array().unwrap().len(), 1);
    }
}
