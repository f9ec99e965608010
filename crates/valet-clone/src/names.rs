//! Synthetic names and places. Built from syllables chosen so that outputs look plausible but
//! are rarely real names: a masked value that happens to equal a real source value would make
//! the leak scan fail the clone.

use crate::key::Stream;

const FIRST_PRE: &[&str] = &[
    "Al", "Bel", "Cor", "Dar", "Eld", "Fen", "Gal", "Hal", "Iv", "Jor", "Kel", "Lor", "Mor", "Nel",
    "Or", "Per", "Quin", "Ros", "Sel", "Tam", "Ul", "Val", "Wen", "Yor", "Zan", "Bran", "Cal",
    "Dor", "Es", "Fal", "Ger", "Hen",
];
const FIRST_SUF: &[&str] = &[
    "wyn", "dric", "quil", "vyn", "bryn", "thas", "dwen", "rix", "veth", "lyx", "mira", "dora",
    "nyx", "fael", "wen", "thia", "rion", "dell", "sanne", "vane", "kai", "moth", "zel", "riel",
    "ven", "doc", "bek", "thys", "quin", "lio", "sia", "bro",
];
const LAST_PRE: &[&str] = &[
    "Ash", "Birch", "Cald", "Dun", "Ever", "Fair", "Grim", "Hollo", "Ire", "Kest", "Lang", "Mor",
    "Nort", "Oaken", "Pell", "Quar", "Raven", "Stan", "Thorn", "Umber", "Vane", "Wex", "Yarr",
    "Zorn",
];
const LAST_MID: &[&str] = &["a", "e", "i", "o", "en", "er", "al", "in"];
const LAST_SUF: &[&str] = &[
    "vik", "thorpe", "vane", "holt", "mere", "quist", "brook", "wald", "dane", "rook", "sted",
    "wyck", "lund", "vard", "moor", "gast",
];
const STREET: &[&str] = &[
    "Street", "Road", "Lane", "Way", "Close", "Row", "Walk", "Court",
];
const CITY_PRE: &[&str] = &[
    "Vel", "Ost", "Brin", "Cael", "Dren", "Esk", "Frel", "Gorm", "Hesk", "Isk", "Jarl", "Kor",
    "Lis", "Mur", "Nesk", "Orv",
];
const CITY_SUF: &[&str] = &[
    "havn", "bury", "vik", "stead", "wick", "mouth", "thorp", "dale", "moor", "gate", "holm", "by",
];

/// A synthetic first name.
pub fn first_name(r: &mut Stream) -> String {
    format!("{}{}", r.pick(FIRST_PRE), r.pick(FIRST_SUF))
}

/// A synthetic last name.
pub fn last_name(r: &mut Stream) -> String {
    format!(
        "{}{}{}",
        r.pick(LAST_PRE),
        r.pick(LAST_MID),
        r.pick(LAST_SUF)
    )
}

/// A synthetic street line, e.g. `12 Kestenholt Lane`.
pub fn street_line(r: &mut Stream) -> String {
    let n = 1 + r.below(298);
    format!(
        "{n} {}{} {}",
        r.pick(LAST_PRE),
        r.pick(LAST_SUF),
        r.pick(STREET)
    )
}

/// A synthetic town.
pub fn city(r: &mut Stream) -> String {
    format!("{}{}", r.pick(CITY_PRE), r.pick(CITY_SUF))
}

/// Lower-case ASCII letters only, for e-mail local parts.
pub fn ascii_lower(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Lower-case ASCII letters and digits of a name, accented Latin letters spelt without their
/// accents (`Müller` → `mueller`, `Łukasz` → `lukasz`), as logins are usually written.
pub fn ascii_fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        let mapped: &str = match c {
            'a'..='z' | '0'..='9' => {
                out.push(c);
                continue;
            }
            'ä' | 'æ' => "ae",
            'ö' | 'ø' | 'œ' => "oe",
            'ü' => "ue",
            'ß' => "ss",
            'å' => "aa",
            'á' | 'à' | 'â' | 'ã' | 'ą' | 'ă' | 'ā' => "a",
            'é' | 'è' | 'ê' | 'ë' | 'ę' | 'ě' | 'ē' => "e",
            'í' | 'ì' | 'î' | 'ï' | 'ı' | 'ī' => "i",
            'ó' | 'ò' | 'ô' | 'õ' | 'ő' => "o",
            'ú' | 'ù' | 'û' | 'ů' | 'ű' | 'ū' => "u",
            'ç' | 'ć' | 'č' => "c",
            'ñ' | 'ń' | 'ņ' => "n",
            'ł' | 'ļ' => "l",
            'ś' | 'š' | 'ș' | 'ş' => "s",
            'ź' | 'ż' | 'ž' => "z",
            'ř' => "r",
            'ý' => "y",
            'ğ' | 'ģ' => "g",
            'ț' | 'ť' => "t",
            'ď' | 'ð' => "d",
            'ķ' => "k",
            'þ' => "th",
            _ => "",
        };
        out.push_str(mapped);
    }
    out
}
