//! Message catalogues: English and Kiswahili, kept as data files
//! (`locales/*.toml`) and embedded in the binary.

use crate::ledger::Language;
use std::collections::HashMap;

const EN: &str = include_str!("../../locales/en.toml");
const SW: &str = include_str!("../../locales/sw.toml");

/// Both languages' messages, keyed by message id.
#[derive(Debug, Clone)]
pub struct Catalog {
    en: HashMap<String, String>,
    sw: HashMap<String, String>,
}

impl Catalog {
    /// Parses the embedded catalogues; they are checked by tests, so failure
    /// here means a broken build.
    pub fn load() -> Result<Catalog, String> {
        let parse = |name: &str, text: &str| -> Result<HashMap<String, String>, String> {
            toml::from_str(text).map_err(|e| format!("locales/{name}.toml: {}", e.message()))
        };
        Ok(Catalog { en: parse("en", EN)?, sw: parse("sw", SW)? })
    }

    /// The message `key` in `lang` with `{name}` placeholders filled. A key
    /// missing in Kiswahili falls back to English, then to the key itself.
    pub fn text(&self, lang: Language, key: &str, args: &[(&str, &str)]) -> String {
        let table = match lang {
            Language::En => &self.en,
            Language::Sw => &self.sw,
        };
        let template = table.get(key).or_else(|| self.en.get(key)).map_or(key, String::as_str);
        fill(template, args)
    }

    pub fn keys(&self, lang: Language) -> Vec<&str> {
        let table = match lang {
            Language::En => &self.en,
            Language::Sw => &self.sw,
        };
        let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }
}

/// `{name}` replaced by its value, in one pass; unknown names stay as written.
fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').map(|close| (&after[..close], close)) {
            Some((name, close)) => {
                match args.iter().find(|(n, _)| *n == name) {
                    Some((_, value)) => out.push_str(value),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(s: &str) -> Vec<String> {
        let mut out: Vec<String> =
            s.split('{').skip(1).filter_map(|p| p.split_once('}').map(|(name, _)| name.to_string())).collect();
        out.sort();
        out
    }

    #[test]
    fn both_languages_have_the_same_keys_and_placeholders() {
        let c = Catalog::load().expect("catalogues parse");
        assert_eq!(c.keys(Language::En), c.keys(Language::Sw));
        for key in c.keys(Language::En) {
            let (en, sw) = (&c.en[key], &c.sw[key]);
            assert_eq!(placeholders(en), placeholders(sw), "placeholders of {key}");
        }
    }

    #[test]
    fn fills_placeholders() {
        let c = Catalog::load().expect("catalogues parse");
        assert_eq!(c.text(Language::En, "err_self", &[]), "You cannot send money to yourself.");
        assert_eq!(c.text(Language::Sw, "invalid_pin", &[("len", "4")]), "PIN ina tarakimu 4.");
        assert_eq!(c.text(Language::En, "no_such_key", &[]), "no_such_key");
    }

    #[test]
    fn fill_replaces_known_names_once_and_keeps_the_rest() {
        assert_eq!(fill("{a} and {b}", &[("a", "1"), ("b", "{a}")]), "1 and {a}");
        assert_eq!(fill("{x} {a", &[("a", "1")]), "{x} {a");
        assert_eq!(fill("no braces", &[("a", "1")]), "no braces");
        assert_eq!(fill("{a}{a}", &[("a", "ü")]), "üü");
    }
}
