//! URL slugs: `lower-case-words-0-9`, given or derived from a name.

use uuid::Uuid;

use crate::validation::Violation;

const SLUG_MAX: usize = 100;

/// 1..=100 characters of `a-z`, `0-9` and single inner hyphens; never
/// UUID-shaped, so `/products/{id_or_slug}` is unambiguous.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    /// # Errors
    /// A [`Violation`] (`slug`) for anything else.
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        let shaped = !raw.is_empty()
            && raw.len() <= SLUG_MAX
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-')
            && !raw.contains("--");
        if !shaped || Uuid::parse_str(raw).is_ok() {
            return Err(Violation::new(
                "slug",
                format!(
                    "must be 1 to {SLUG_MAX} of a-z, 0-9 and single inner hyphens, and not a UUID"
                ),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The slug of `name`: ASCII letters lower-cased, common Latin accents
    /// folded (`é` → `e`, `ß` → `ss`), every other run of characters one
    /// hyphen, cut to 100 characters.
    ///
    /// # Errors
    /// A [`Violation`] (`slug`) when `name` yields no valid slug (no letter
    /// or digit in it, or a UUID): the client must send one.
    pub fn derive(name: &str) -> Result<Self, Violation> {
        let mut slug = String::with_capacity(name.len());
        let mut pending_hyphen = false;
        for c in name.chars() {
            let folded = fold(c.to_lowercase().next().unwrap_or(c));
            match folded {
                Some(text) => {
                    if pending_hyphen && !slug.is_empty() {
                        slug.push('-');
                    }
                    pending_hyphen = false;
                    slug.push_str(text);
                }
                None => pending_hyphen = true,
            }
            if slug.len() >= SLUG_MAX {
                break;
            }
        }
        slug.truncate(SLUG_MAX);
        let slug = slug.trim_end_matches('-');
        Self::parse(slug).map_err(|_| {
            Violation::new(
                "slug",
                "cannot be derived from the name; send a slug of a-z, 0-9 and hyphens",
            )
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `c` (lower-cased) as slug text, or `None` for a separator.
fn fold(c: char) -> Option<&'static str> {
    const ASCII: [&str; 36] = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
        "s", "t", "u", "v", "w", "x", "y", "z", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    ];
    match c {
        'a'..='z' => ASCII.get(c as usize - 'a' as usize).copied(),
        '0'..='9' => ASCII.get(26 + c as usize - '0' as usize).copied(),
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => Some("a"),
        'æ' => Some("ae"),
        'ç' => Some("c"),
        'è' | 'é' | 'ê' | 'ë' => Some("e"),
        'ì' | 'í' | 'î' | 'ï' => Some("i"),
        'ñ' => Some("n"),
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => Some("o"),
        'œ' => Some("oe"),
        'ù' | 'ú' | 'û' | 'ü' => Some("u"),
        'ý' | 'ÿ' => Some("y"),
        'ß' => Some("ss"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_derived_from_names() {
        for (name, slug) in [
            ("Blue Mug", "blue-mug"),
            ("  Crème Brûlée -- 2 pack! ", "creme-brulee-2-pack"),
            ("Straße", "strasse"),
            ("C++/Rust", "c-rust"),
            ("Ünïcödé 🙂 mug", "unicode-mug"),
        ] {
            assert_eq!(Slug::derive(name).unwrap().as_str(), slug, "{name}");
        }
        let long = Slug::derive(&"ab ".repeat(100)).unwrap();
        assert_eq!(long.as_str().len(), 100);
        assert!(!long.as_str().ends_with('-'));
    }

    #[test]
    fn a_name_without_letters_or_digits_needs_an_explicit_slug() {
        for name in ["!!!", "🙂", "日本", "0190a3e2-7c4b-7d2e-9d3a-3c1c4f1e2a10"] {
            assert_eq!(Slug::derive(name).unwrap_err().code, "slug", "{name}");
        }
    }

    #[test]
    fn given_slugs_are_checked() {
        assert!(Slug::parse("blue-mug-2").is_ok());
        for bad in [
            "",
            "Blue",
            "-a",
            "a-",
            "a--b",
            "a b",
            "ä",
            "0190a3e2-7c4b-7d2e-9d3a-3c1c4f1e2a10",
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
        assert!(Slug::parse(&"a".repeat(101)).is_err());
    }
}
