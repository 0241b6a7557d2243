//! Common English first-name nicknames and the formal names they stand for
//! (a hand-kept table: no maintained crate carries one). A nickname may
//! stand for several names (Sam: Samuel or Samantha); a formal name stands
//! for itself.

/// Nicknames and the formal names each may stand for.
const NICKNAMES: &[(&str, &[&str])] = &[
    ("abby", &["abigail"]),
    ("alex", &["alexander", "alexandra"]),
    ("alfie", &["alfred"]),
    ("andy", &["andrew"]),
    ("becky", &["rebecca"]),
    ("ben", &["benjamin"]),
    ("beth", &["elizabeth", "bethany"]),
    ("bill", &["william"]),
    ("billy", &["william"]),
    ("bob", &["robert"]),
    ("bobby", &["robert"]),
    ("charlie", &["charles", "charlotte"]),
    ("chris", &["christopher", "christine"]),
    ("dan", &["daniel"]),
    ("danny", &["daniel"]),
    ("dave", &["david"]),
    ("ed", &["edward"]),
    ("eddie", &["edward"]),
    ("ellie", &["eleanor", "ellen"]),
    ("fred", &["frederick"]),
    ("freddie", &["frederick"]),
    ("harry", &["henry", "harold"]),
    ("izzy", &["isabel", "isabella"]),
    ("jack", &["john", "jackson"]),
    ("jake", &["jacob"]),
    ("jamie", &["james"]),
    ("jen", &["jennifer"]),
    ("jenny", &["jennifer"]),
    ("jim", &["james"]),
    ("jimmy", &["james"]),
    ("jo", &["joanne", "josephine"]),
    ("joe", &["joseph"]),
    ("johnny", &["john"]),
    ("jon", &["jonathan", "john"]),
    ("josh", &["joshua"]),
    ("kate", &["katherine", "catherine"]),
    ("katie", &["katherine", "catherine"]),
    ("liam", &["william"]),
    ("liz", &["elizabeth"]),
    ("lizzie", &["elizabeth"]),
    ("maggie", &["margaret"]),
    ("matt", &["matthew"]),
    ("meg", &["margaret"]),
    ("mike", &["michael"]),
    ("mo", &["mohammed", "muhammad", "mohammad"]),
    ("nat", &["nathan", "natalie"]),
    ("nick", &["nicholas"]),
    ("ollie", &["oliver"]),
    ("pat", &["patrick", "patricia"]),
    ("rob", &["robert"]),
    ("sam", &["samuel", "samantha"]),
    ("sophie", &["sophia"]),
    ("steve", &["stephen", "steven"]),
    ("sue", &["susan"]),
    ("ted", &["edward"]),
    ("tom", &["thomas"]),
    ("tommy", &["thomas"]),
    ("tony", &["anthony"]),
    ("will", &["william"]),
    ("zach", &["zachary"]),
];

/// The formal names a folded first name may stand for: the names a
/// nickname stands for, or the name itself.
pub fn formal_names(first: &str) -> Vec<&str> {
    match NICKNAMES.binary_search_by(|(nickname, _)| nickname.cmp(&first)) {
        Ok(i) => NICKNAMES[i].1.to_vec(),
        Err(_) => vec![first],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_so_lookups_find_every_nickname() {
        assert!(NICKNAMES.windows(2).all(|w| w[0].0 < w[1].0), "keep NICKNAMES sorted");
        assert_eq!(formal_names("bob"), ["robert"]);
        assert_eq!(formal_names("sam"), ["samuel", "samantha"]);
        assert_eq!(formal_names("robert"), ["robert"]);
    }
}
