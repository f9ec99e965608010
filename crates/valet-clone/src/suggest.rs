//! `valet policy suggest`: a first policy from column names (in English, German, French,
//! Dutch, Spanish, Italian, Portuguese, Polish and the Nordic languages; snake, camel and
//! Pascal case; the usual abbreviations) and from sampled values (e-mail addresses, phone
//! numbers, national identifiers with their check digits, IBANs, birth dates, postcodes, IP
//! addresses, given names and surnames, images by their magic bytes, JSON documents and
//! arrays walked). It fails closed: a text, binary, JSON or array column it has no evidence
//! about gets `"review"`, which the clone refuses until a person decides. Every line's
//! comment states the evidence.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use regex::Regex;

use crate::array::PgArray;
use crate::names::ascii_fold;
use crate::plan::{policy_table_key, Catalog, ColumnInfo, TableInfo};

/// Rows sampled per table: enough to see patterns, bounded so a suggestion reads little.
pub const SAMPLE_ROWS: usize = 500;

/// What a column holds, by name or by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    FirstName,
    LastName,
    FullName,
    Initials,
    BirthDate,
    Sex,
    Email,
    Phone,
    Street,
    City,
    Postcode,
    NationalId,
    Login,
    Secret,
    Image,
    FreeText,
    Ip,
}

impl Kind {
    fn spec(self) -> &'static str {
        match self {
            Kind::FirstName => "\"first_name\"",
            Kind::LastName => "\"last_name\"",
            Kind::FullName => "\"full_name\"",
            Kind::Initials => "\"initials\"",
            Kind::BirthDate => "{ transformer = \"date_of_birth\", shift_days = 180 }",
            Kind::Sex => "\"sex\"",
            Kind::Email => "\"email\"",
            Kind::Phone => "\"phone\"",
            Kind::Street => "{ transformer = \"address\", part = \"line\" }",
            Kind::City => "{ transformer = \"address\", part = \"city\" }",
            Kind::Postcode => "{ transformer = \"address\", part = \"postcode\" }",
            Kind::NationalId | Kind::Ip => "{ transformer = \"hmac\", length = 16 }",
            Kind::Login => "\"username\"",
            Kind::Secret | Kind::Image => "\"null\"",
            Kind::FreeText => "{ transformer = \"free_text\", mode = \"lorem\" }",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::FirstName => "a first name",
            Kind::LastName => "a last name",
            Kind::FullName => "a person's name",
            Kind::Initials => "initials",
            Kind::BirthDate => "a date of birth",
            Kind::Sex => "sex",
            Kind::Email => "an e-mail address",
            Kind::Phone => "a phone number",
            Kind::Street => "an address",
            Kind::City => "a town",
            Kind::Postcode => "a postcode",
            Kind::NationalId => "an identifier of a person",
            Kind::Login => "a login, usually built from the person's names",
            Kind::Secret => "a password hash, secret or token",
            Kind::Image => "a photo, signature or other image",
            Kind::FreeText => "free text that may mention people",
            Kind::Ip => "an IP address",
        }
    }

    /// Whether the column says whose data the row is (a person table).
    fn is_personal(self) -> bool {
        matches!(
            self,
            Kind::FirstName | Kind::LastName | Kind::FullName | Kind::BirthDate | Kind::Email
        )
    }
}

/// Column-name vocabulary by kind, spelt as written (folded and joined when compared).
#[rustfmt::skip]
const NAMES: &[(Kind, &[&str])] = &[
    (Kind::FirstName, &[
        "first_name", "fname", "firstname", "given_name", "forename", "christian_name",
        "middle_name", "vorname", "rufname", "prénom", "voornaam", "roepnaam", "nombre",
        "primer_nombre", "nome_proprio", "primeiro_nome", "imię", "imie", "fornavn", "förnamn",
        "etunimi", "alias", "aliases", "aliase", "nickname", "spitzname", "bijnaam", "surnom",
        "apodo", "soprannome", "alcunha", "pseudonim", "smeknamn", "kallenavn", "lempinimi",
    ]),
    (Kind::LastName, &[
        "last_name", "lname", "lastname", "surname", "family_name", "maiden_name", "nachname",
        "familienname", "nom_de_famille", "nom", "achternaam", "apellido", "apellidos",
        "primer_apellido", "cognome", "sobrenome", "apelido", "nazwisko", "efternavn",
        "etternavn", "efternamn", "sukunimi",
    ]),
    (Kind::FullName, &[
        "full_name", "fullname", "display_name", "person_name", "patient_name", "contact_name",
        "customer_name", "employee_name", "volunteer_name", "vollständiger_name", "naam",
        "volledige_naam", "nom_complet", "nombre_completo", "nome_completo", "imię_i_nazwisko",
        "navn", "namn", "nimi",
    ]),
    (Kind::Initials, &[
        "initials", "initialen", "initiales", "iniciales", "iniziali", "inicjały",
    ]),
    (Kind::BirthDate, &[
        "dob", "date_of_birth", "birth_date", "birthdate", "birthday", "born", "born_on",
        "geburtsdatum", "geburtstag", "geb_datum", "geboortedatum", "date_de_naissance",
        "date_naissance", "naissance", "fecha_nacimiento", "fecha_de_nacimiento", "nacimiento",
        "data_di_nascita", "data_nascita", "data_de_nascimento", "data_nascimento",
        "nascimento", "data_urodzenia", "födelsedatum", "fødselsdato", "fodselsdato",
        "syntymäaika", "syntymäpäivä",
    ]),
    (Kind::Sex, &[
        "sex", "gender", "geschlecht", "sexe", "genre", "geslacht", "sexo", "género", "genero",
        "sesso", "genere", "płeć", "plec", "kön", "køn", "kjønn", "kjonn", "sukupuoli",
    ]),
    (Kind::Email, &[
        "email", "e_mail", "mail", "email_address", "mail_address", "courriel", "adresse_mail",
        "correo", "correo_electronico", "posta_elettronica", "epost", "e_post", "sähköposti",
    ]),
    (Kind::Phone, &[
        "phone", "phone_number", "telephone", "tel", "tel_no", "mobile", "cell", "cellphone",
        "fax", "telefon", "telefonnummer", "handy", "mobil", "telefoon", "telefoonnummer",
        "mobiel", "gsm", "portable", "téléphone", "teléfono", "telefono", "móvil", "movil",
        "celular", "cellulare", "telemóvel", "telemovel", "telefone", "komórka", "puhelin",
        "matkapuhelin",
    ]),
    (Kind::Street, &[
        "address", "address_line", "address1", "address2", "street", "street_address", "addr",
        "adresse", "anschrift", "straße", "strasse", "hausnummer", "adres", "straat",
        "huisnummer", "dirección", "direccion", "calle", "indirizzo", "endereço", "endereco",
        "morada", "rua", "ulica", "adress", "gatuadress", "osoite", "katuosoite",
    ]),
    (Kind::City, &[
        "city", "town", "ort", "stadt", "wohnort", "ville", "commune", "plaats", "woonplaats",
        "ciudad", "localidad", "città", "citta", "comune", "cidade", "localidade", "miasto",
        "miejscowość", "poststed", "stad", "kaupunki", "paikkakunta",
    ]),
    (Kind::Postcode, &[
        "postcode", "post_code", "postal_code", "zip", "zipcode", "zip_code", "plz",
        "postleitzahl", "code_postal", "cp", "código_postal", "codigo_postal", "cap", "cep",
        "kod_pocztowy", "postnummer", "postinumero",
    ]),
    (Kind::NationalId, &[
        "ssn", "social_security", "social_security_number", "bsn", "burgerservicenummer",
        "sofinummer", "nhs", "nhs_no", "nhs_number", "mrn", "medical_record_number",
        "patient_number", "patient_no", "national_id", "national_insurance", "ni_number",
        "nino", "personnummer", "personnr", "fødselsnummer", "cpr", "cpr_nr", "henkilötunnus",
        "hetu", "pesel", "nif", "nie", "dni", "nss", "codice_fiscale", "steuer_id",
        "steuernummer", "svnr", "sozialversicherungsnummer", "nir", "insee", "passport",
        "passport_no", "passport_number", "reisepass", "driver_license", "drivers_license",
        "license_number", "insurance_no", "insurance_number", "versichertennummer", "iban",
        "account_number", "bank_account", "rekeningnummer", "kontonummer", "tax_id", "tin",
    ]),
    (Kind::Login, &[
        "username", "user_name", "login", "login_name", "account_name", "user_login",
        "screen_name", "benutzername", "gebruikersnaam", "nom_utilisateur", "identifiant",
        "usuario", "nombre_usuario", "nome_utente", "utente", "nome_usuario", "użytkownik",
        "brukernavn", "användarnamn", "käyttäjätunnus",
    ]),
    (Kind::Secret, &[
        "password", "passwd", "pwd", "password_hash", "pw_hash", "password_digest",
        "encrypted_password", "hashed_password", "passwort", "kennwort", "wachtwoord",
        "mot_de_passe", "mdp", "contraseña", "contrasena", "clave", "senha", "hasło", "haslo",
        "passord", "lösenord", "salasana", "secret", "client_secret", "token", "access_token",
        "refresh_token", "api_key", "apikey", "private_key", "salt", "otp", "otp_secret",
        "totp_secret", "mfa_secret", "reset_token", "remember_token", "session_token",
    ]),
    (Kind::Image, &[
        "photo", "picture", "pic", "avatar", "image", "img", "portrait", "signature",
        "thumbnail", "foto", "bild", "lichtbild", "unterschrift", "handtekening", "pasfoto",
        "imagen", "immagine", "fotografia", "assinatura", "zdjęcie", "podpis", "bilde", "kuva",
        "allekirjoitus",
    ]),
    (Kind::FreeText, &[
        "note", "notes", "comment", "comments", "remark", "remarks", "description", "memo",
        "message", "body", "details", "old_value", "new_value", "bemerkung", "notiz",
        "kommentar", "beschreibung", "anmerkung", "opmerking", "notitie", "toelichting",
        "commentaire", "remarque", "observation", "observations", "nota", "notas",
        "observaciones", "comentario", "osservazioni", "commento", "observações", "uwagi",
        "notatka", "komentarz", "notat", "anteckning", "anmärkning", "huomautus", "kommentti",
    ]),
    (Kind::Ip, &[
        "ip", "ip_address", "ipaddress", "remote_addr", "client_ip",
    ]),
];

/// Words of a column name: snake, kebab, camel and Pascal case split, folded to ASCII.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1);
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase() || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
            });
        if boundary && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.into_iter()
        .map(|w| ascii_fold(&w))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Folded, joined vocabulary → kind.
fn vocabulary() -> &'static HashMap<String, Kind> {
    static V: OnceLock<HashMap<String, Kind>> = OnceLock::new();
    V.get_or_init(|| {
        let mut m = HashMap::new();
        for (kind, list) in NAMES {
            for w in *list {
                m.entry(words(w).concat()).or_insert(*kind);
            }
        }
        m
    })
}

/// The kind a column name names: the whole name, or its last words (`patient_first_name`,
/// `contactEmail`), or its first words (`email_verified_at` is not matched: only names whose
/// other words are about the same thing, `phone_mobile`, `dob_date`).
fn kind_by_name(name: &str) -> Option<(Kind, String)> {
    let w = words(name);
    if w.is_empty() {
        return None;
    }
    let v = vocabulary();
    // Whole name, then the longest suffix of words.
    for k in 0..w.len() {
        let joined = w[k..].concat();
        if let Some(kind) = v.get(&joined) {
            // A lone `name`-like or short word at the end of a longer name must be a word of
            // its own (`nom` in `prenom` is not matched, as words are whole).
            return Some((*kind, w[k..].join("_")));
        }
    }
    // A prefix, when the rest is a generic word (`email_address`, `phone_number`, `tel_no`).
    const GENERIC: &[&str] = &[
        "address",
        "adresse",
        "number",
        "nummer",
        "numero",
        "no",
        "nr",
        "num",
        "value",
        "text",
        "hash",
        "digest",
        "data",
        "date",
        "datum",
        "fecha",
        "data",
        "1",
        "2",
        "primary",
        "private",
        "home",
        "work",
        "mobile",
        "cell",
        "enc",
        "encrypted",
        "code",
    ];
    for k in (1..w.len()).rev() {
        if w[k..].iter().all(|x| GENERIC.contains(&x.as_str())) {
            if let Some(kind) = v.get(&w[..k].concat()) {
                return Some((*kind, w[..k].join("_")));
            }
        }
    }
    None
}

/// The broad class of a column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TypeClass {
    Array,
    Json,
    Binary,
    Text,
    Enum,
    Number,
    Bool,
    Temporal,
    Date,
    Uuid,
    Other,
}

fn type_class(data_type: &str, base_type: &str) -> TypeClass {
    let t = data_type.trim().to_ascii_lowercase();
    if t.ends_with(']') || base_type.starts_with("b:_") {
        return TypeClass::Array;
    }
    if base_type.starts_with("e:") || t.starts_with("enum(") || t.starts_with("set(") {
        return TypeClass::Enum;
    }
    let has = |w: &str| t.contains(w);
    if has("json") {
        TypeClass::Json
    } else if has("bytea") || has("blob") || has("binary") || t == "image" {
        TypeClass::Binary
    } else if has("char")
        || has("text")
        || has("clob")
        || has("string")
        || t == "name"
        || has("xml")
    {
        TypeClass::Text
    } else if has("bool") || t == "bit(1)" || t == "tinyint(1)" {
        TypeClass::Bool
    } else if has("uuid") {
        TypeClass::Uuid
    } else if t == "date" {
        TypeClass::Date
    } else if has("time") || has("date") || has("interval") || t.starts_with("year") {
        TypeClass::Temporal
    } else if has("int")
        || has("serial")
        || has("numeric")
        || has("decimal")
        || has("real")
        || has("double")
        || has("float")
        || has("money")
        || has("bit")
        || t == "number"
    {
        TypeClass::Number
    } else if t.is_empty() {
        // SQLite columns without a declared type hold anything.
        TypeClass::Text
    } else {
        TypeClass::Other
    }
}

// ---------------------------------------------------------------------------------------
// Detectors of sampled values.

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid regex"))
}

fn is_email(s: &str) -> bool {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$").is_match(s)
}

fn is_date(s: &str) -> Option<i64> {
    crate::transform::parse_date(s).map(|(y, ..)| y)
}

fn is_phone(s: &str) -> bool {
    static R: OnceLock<Regex> = OnceLock::new();
    let digits = s.chars().filter(char::is_ascii_digit).count();
    (7..=15).contains(&digits)
        && re(&R, r"^(\+|00|0|\()[\d\s().\-/]{6,22}$").is_match(s)
        && is_date(s).is_none()
}

/// IBAN with its mod-97 check.
fn is_iban(s: &str) -> bool {
    let c: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !c.is_ascii()
        || !(15..=34).contains(&c.len())
        || !c[..2].chars().all(|x| x.is_ascii_uppercase())
        || !c[2..4].chars().all(|x| x.is_ascii_digit())
        || !c.chars().all(|x| x.is_ascii_alphanumeric())
    {
        return false;
    }
    let moved = format!("{}{}", &c[4..], &c[..4]);
    let mut rem = 0u32;
    for ch in moved.chars() {
        let v = ch.to_digit(36).unwrap_or(0);
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

fn digits_of(s: &str, sep: &[char]) -> Option<Vec<u32>> {
    if !s.chars().all(|c| c.is_ascii_digit() || sep.contains(&c)) {
        return None;
    }
    Some(s.chars().filter_map(|c| c.to_digit(10)).collect())
}

/// NHS number: ten digits, mod-11 check digit.
fn is_nhs(s: &str) -> bool {
    let Some(d) = digits_of(s, &[' ', '-']) else {
        return false;
    };
    if d.len() != 10 {
        return false;
    }
    let sum: u32 = d[..9].iter().zip((2..=10).rev()).map(|(x, w)| x * w).sum();
    let check = (11 - sum % 11) % 11;
    check != 10 && check == d[9]
}

/// Dutch BSN: nine digits, the "11-proof".
fn is_bsn(s: &str) -> bool {
    let Some(d) = digits_of(s, &[]) else {
        return false;
    };
    if d.len() != 9 || d.iter().all(|x| *x == 0) {
        return false;
    }
    let sum: i64 = d[..8]
        .iter()
        .zip((2..=9).rev())
        .map(|(x, w)| i64::from(*x) * w)
        .sum::<i64>()
        - i64::from(d[8]);
    sum % 11 == 0
}

/// US SSN written `123-45-6789` (area not 000, 666 or 9xx).
fn is_ssn(s: &str) -> bool {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"^(\d{3})-(\d{2})-(\d{4})$")
        .captures(s)
        .is_some_and(|c| {
            let area = &c[1];
            area != "000" && area != "666" && !area.starts_with('9') && &c[2] != "00"
        })
}

fn is_postcode(s: &str) -> bool {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"^([A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|\d{4} ?[A-Z]{2}|\d{2}-\d{3}|\d{4}-\d{3}|\d{3} \d{2}|[A-Z]\d[A-Z] ?\d[A-Z]\d)$",
    )
    .is_match(s)
}

fn is_ip(s: &str) -> bool {
    s.contains(['.', ':']) && s.parse::<std::net::IpAddr>().is_ok()
}

/// Magic bytes of images (and scanned documents), from a sample written `\x89504e47…`.
fn image_magic(s: &str) -> Option<&'static str> {
    let hex = s.strip_prefix("\\x")?.to_ascii_lowercase();
    [
        ("89504e47", "PNG"),
        ("ffd8ff", "JPEG"),
        ("47494638", "GIF"),
        ("25504446", "PDF"),
        ("424d", "BMP"),
        ("49492a00", "TIFF"),
        ("4d4d002a", "TIFF"),
        ("52494646", "WEBP"),
        ("3c737667", "SVG"),
    ]
    .into_iter()
    .find(|(m, _)| hex.starts_with(m))
    .map(|(_, n)| n)
}

/// Password hashes and tokens: bcrypt/argon2/PBKDF2/crypt strings, long hex or base64 runs.
fn is_secret(s: &str) -> bool {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"^(\$2[aby]?\$\d\d\$[./A-Za-z0-9]{53}|\$argon2(id|i|d)\$\S+|pbkdf2[_:$]\S+|\$[156]\$\S+|[0-9a-fA-F]{40,128}|[A-Za-z0-9_\-]{32,}\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)$",
    )
    .is_match(s)
}

/// Common given names and surnames of the languages valet knows (folded, lower case): a
/// value that is one of them, or a given name and a surname, is a name.
#[rustfmt::skip]
const GIVEN: &[&str] = &[
    "james", "john", "robert", "michael", "william", "david", "richard", "joseph", "thomas",
    "charles", "mary", "patricia", "jennifer", "linda", "elizabeth", "barbara", "susan",
    "jessica", "sarah", "karen", "emma", "olivia", "amelia", "oliver", "jack", "harry",
    "george", "noah", "sophie", "lucy", "hans", "peter", "klaus", "jurgen", "juergen", "stefan",
    "andreas", "wolfgang", "ursula", "monika", "petra", "sabine", "anna", "maria", "lena",
    "lukas", "leon", "finn", "jean", "pierre", "michel", "philippe", "alain", "nicolas",
    "marie", "nathalie", "isabelle", "sylvie", "camille", "louis", "jan", "piet", "kees",
    "henk", "joost", "daan", "sem", "anouk", "sanne", "femke", "lotte", "jose", "antonio",
    "manuel", "francisco", "juan", "javier", "carmen", "lucia", "laura", "isabel", "marco",
    "giuseppe", "giovanni", "luca", "francesco", "alessandro", "giulia", "chiara", "francesca",
    "sofia", "joao", "pedro", "tiago", "ana", "beatriz", "mariana", "piotr", "krzysztof",
    "tomasz", "pawel", "michal", "katarzyna", "malgorzata", "agnieszka", "magdalena", "lars",
    "anders", "nils", "erik", "johan", "per", "ingrid", "astrid", "karin", "kristina", "mikko",
    "juha", "matti", "aino", "helmi", "mohammed", "ahmed", "fatima", "siobhan", "aoife", "sean",
    "jurgen", "ines", "elena", "zofia",
];
#[rustfmt::skip]
const SURNAMES: &[&str] = &[
    "smith", "johnson", "williams", "brown", "jones", "miller", "davis", "wilson", "taylor",
    "clark", "walker", "wright", "thompson", "white", "harris", "martin", "jackson", "mueller",
    "muller", "schmidt", "schneider", "fischer", "weber", "meyer", "wagner", "becker", "schulz",
    "hoffmann", "bernard", "dubois", "durand", "lefebvre", "moreau", "laurent", "simon",
    "michel", "leroy", "dejong", "jansen", "devries", "vandenberg", "bakker", "visser", "smit",
    "meijer", "garcia", "rodriguez", "gonzalez", "fernandez", "lopez", "martinez", "sanchez",
    "perez", "rossi", "russo", "ferrari", "esposito", "bianchi", "romano", "colombo", "silva",
    "santos", "ferreira", "pereira", "oliveira", "costa", "rodrigues", "nowak", "kowalski",
    "kowalczyk", "wisniewski", "wojcik", "kaminski", "lewandowski", "zielinski", "johansson",
    "andersson", "karlsson", "nilsson", "eriksson", "larsson", "hansen", "johansen", "olsen",
    "nielsen", "jensen", "pedersen", "korhonen", "virtanen", "makinen", "nieminen", "svoboda",
    "novak", "nakamura", "oneill", "fitzgerald", "abernathy", "murphy", "kelly",
];

fn name_set(list: &'static [&'static str]) -> HashSet<&'static str> {
    list.iter().copied().collect()
}

fn name_kind(s: &str) -> Option<Kind> {
    static G: OnceLock<HashSet<&str>> = OnceLock::new();
    static S: OnceLock<HashSet<&str>> = OnceLock::new();
    let g = G.get_or_init(|| name_set(GIVEN));
    let sur = S.get_or_init(|| name_set(SURNAMES));
    let parts: Vec<String> = s
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|p| !p.is_empty())
        .map(|p| ascii_fold(p.trim_end_matches(|c: char| c.is_ascii_digit())))
        .collect();
    if !s.chars().next().is_some_and(char::is_uppercase) {
        return None;
    }
    match parts.as_slice() {
        [one] if g.contains(one.as_str()) => Some(Kind::FirstName),
        [one] if sur.contains(one.as_str()) => Some(Kind::LastName),
        [a, b] | [a, _, b]
            if (g.contains(a.as_str()) && sur.contains(b.as_str()))
                || (sur.contains(a.as_str()) && g.contains(b.as_str())) =>
        {
            Some(Kind::FullName)
        }
        _ => None,
    }
}

/// A value detector: the kind it finds, what the evidence calls the values, the test.
type Detector = (Kind, &'static str, fn(&str) -> bool);

/// The kind most sampled values show, with `k of n`; at least half of them must agree
/// (a fifth for names, which the lists cannot all know).
fn kind_by_values(samples: &[String], tc: TypeClass) -> Option<(Kind, String)> {
    let vals: Vec<&str> = samples
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let n = vals.len();
    if n == 0 {
        return None;
    }
    let count = |f: &dyn Fn(&str) -> bool| vals.iter().filter(|v| f(v)).count();
    let ev = |k: usize, what: &str| format!("{k} of {n} sampled values are {what}");
    if tc == TypeClass::Binary {
        let hits: Vec<&str> = vals.iter().filter_map(|v| image_magic(v)).collect();
        if !hits.is_empty() && hits.len() * 2 >= n {
            return Some((
                Kind::Image,
                ev(hits.len(), &format!("images ({})", hits[0])),
            ));
        }
        return None;
    }
    let detectors: [Detector; 9] = [
        (Kind::Email, "e-mail addresses", is_email),
        (Kind::NationalId, "IBANs (check digits valid)", is_iban),
        (Kind::NationalId, "NHS numbers (check digit valid)", is_nhs),
        (Kind::NationalId, "BSNs (11-proof valid)", is_bsn),
        (Kind::NationalId, "social security numbers", is_ssn),
        (Kind::Ip, "IP addresses", is_ip),
        (Kind::Secret, "password hashes or tokens", is_secret),
        (Kind::Phone, "phone numbers", is_phone),
        (Kind::Postcode, "postcodes", is_postcode),
    ];
    for (kind, what, f) in detectors {
        let k = count(&f);
        if k * 2 >= n && k > 0 {
            return Some((kind, ev(k, what)));
        }
    }
    // Birth dates: dates spread over decades, mostly before this century's second decade.
    let years: Vec<i64> = vals.iter().filter_map(|v| is_date(v)).collect();
    if years.len() * 2 >= n && !years.is_empty() {
        let (lo, hi) = (years.iter().min().copied(), years.iter().max().copied());
        let old = years.iter().filter(|y| (1900..2010).contains(*y)).count();
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if hi - lo >= 15 && old * 10 >= years.len() * 8 {
                return Some((
                    Kind::BirthDate,
                    format!(
                        "{} of {n} sampled values are dates from {lo} to {hi}, like birth dates",
                        years.len()
                    ),
                ));
            }
        }
    }
    let mut by_name: BTreeMap<&str, (Kind, usize)> = BTreeMap::new();
    for v in &vals {
        if let Some(k) = name_kind(v) {
            let e = by_name.entry(k.what()).or_insert((k, 0));
            e.1 += 1;
        }
    }
    if let Some((_, (kind, k))) = by_name.into_iter().max_by_key(|(_, (_, k))| *k) {
        if k * 5 >= n {
            return Some((kind, ev(k, &format!("{} (known names)", kind.what()))));
        }
    }
    let long = count(&|v: &str| v.chars().count() > 40 && v.contains(' '));
    if long * 2 >= n && long > 0 {
        return Some((Kind::FreeText, ev(long, "free text")));
    }
    None
}

/// How many values look like logins built from names (`a.svoboda`, `amelia_svoboda2`).
fn logins(samples: &[String]) -> usize {
    static R: OnceLock<Regex> = OnceLock::new();
    let r = re(&R, r"^\p{L}+([._-]\p{L}+)+\d*$");
    samples.iter().filter(|s| r.is_match(s.trim())).count()
}

/// Evidence that a text column is safe to keep: short code-like values (`A1`, `DONE`,
/// `mg/dl`) that repeat.
fn codes(samples: &[String]) -> Option<String> {
    static R: OnceLock<Regex> = OnceLock::new();
    let r = re(&R, r"^[A-Za-z0-9_./%:+-]{1,12}$");
    let n = samples.len();
    if n < 2 {
        return None;
    }
    let distinct: HashSet<&str> = samples.iter().map(String::as_str).collect();
    let code_like = samples
        .iter()
        .all(|s| r.is_match(s.trim()) && name_kind(s.trim()).is_none());
    (code_like && distinct.len() * 2 <= n).then(|| {
        format!(
            "{n} sampled values are short codes, {} distinct",
            distinct.len()
        )
    })
}

/// A suggestion for one column: the spec (TOML value) and its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub spec: String,
    pub why: String,
    kind: Option<Kind>,
}

fn review(why: String) -> Suggestion {
    Suggestion {
        spec: format!(
            "{{ transformer = \"review\", reason = \"{}\" }}",
            why.replace('\\', "\\\\").replace('"', "\\\"")
        ),
        why,
        kind: None,
    }
}

fn keep(why: impl Into<String>) -> Suggestion {
    Suggestion {
        spec: "\"keep\"".into(),
        why: why.into(),
        kind: None,
    }
}

fn of_kind(kind: Kind, why: String) -> Suggestion {
    Suggestion {
        spec: kind.spec().into(),
        why,
        kind: Some(kind),
    }
}

fn is_key_name(n: &str) -> bool {
    let w = words(n);
    matches!(
        w.last().map(String::as_str),
        Some("id" | "pk" | "fk" | "key" | "ref")
    ) || w.first().is_some_and(|f| f == "id")
        || n.to_ascii_lowercase().ends_with("id") && w.len() == 1 && n.len() <= 4
}

/// Suggest a spec for one column from its name, type and sampled values (non-NULL, as text;
/// binary values as `\x` and hex).
pub fn suggest_for_column(name: &str, data_type: &str, samples: &[String]) -> (String, String) {
    let s = suggest_column(name, data_type, "", samples);
    (s.spec, s.why)
}

fn suggest_column(name: &str, data_type: &str, base_type: &str, samples: &[String]) -> Suggestion {
    let tc = type_class(data_type, base_type);
    let by_name = kind_by_name(name);
    let name_ev = |k: Kind, w: &str| format!("column name `{name}` ({w}) means {}", k.what());
    match tc {
        TypeClass::Array => return suggest_array(name, data_type, samples),
        TypeClass::Json => return suggest_json(name, samples),
        _ => {}
    }
    if let Some((kind, w)) = by_name.clone() {
        // Types the kind cannot hold say the name is about something else.
        let fits = match kind {
            Kind::BirthDate => {
                matches!(tc, TypeClass::Date | TypeClass::Temporal | TypeClass::Text)
            }
            Kind::Image => matches!(tc, TypeClass::Binary | TypeClass::Text),
            Kind::NationalId | Kind::Phone | Kind::Postcode => {
                !matches!(tc, TypeClass::Bool | TypeClass::Temporal | TypeClass::Date)
            }
            Kind::Secret => {
                matches!(tc, TypeClass::Text | TypeClass::Binary | TypeClass::Number)
            }
            Kind::Sex => matches!(tc, TypeClass::Text | TypeClass::Enum | TypeClass::Number),
            _ => matches!(tc, TypeClass::Text | TypeClass::Enum | TypeClass::Other),
        };
        if fits {
            if kind == Kind::Secret && tc == TypeClass::Number {
                // A PIN or code kept as a number: a constant fits where NULL may not.
                return Suggestion {
                    spec: "{ transformer = \"constant\", value = \"0\" }".into(),
                    why: format!("{}, kept as a number", name_ev(kind, &w)),
                    kind: Some(kind),
                };
            }
            if kind == Kind::Sex && tc == TypeClass::Number {
                return of_kind(
                    Kind::Sex,
                    format!("{}; coded as a number: check `values`", name_ev(kind, &w)),
                );
            }
            return of_kind(kind, name_ev(kind, &w));
        }
    }
    let textual = matches!(tc, TypeClass::Text | TypeClass::Binary | TypeClass::Other);
    // JSON documents and dates kept in text columns (SQLite, older schemas).
    let docs = samples
        .iter()
        .filter(|v| {
            let v = v.trim_start();
            (v.starts_with('{') || v.starts_with('['))
                && serde_json::from_str::<serde_json::Value>(v).is_ok()
        })
        .count();
    if textual && !samples.is_empty() && docs * 2 > samples.len() {
        return suggest_json(name, samples);
    }
    if textual && !samples.is_empty() && samples.iter().all(|v| is_date(v.trim()).is_some()) {
        if let Some((Kind::BirthDate, why)) = kind_by_values(samples, TypeClass::Date) {
            return of_kind(Kind::BirthDate, why);
        }
        if by_name.is_none() {
            return keep(format!(
                "{} sampled values are dates and times (stored as text), not like birth dates",
                samples.len()
            ));
        }
    }
    if textual {
        if let Some((kind, why)) = kind_by_values(samples, tc) {
            return of_kind(kind, why);
        }
        if words(name)
            .last()
            .is_some_and(|w| w == "by" || w == "owner")
            && logins(samples) * 2 > samples.len()
        {
            return of_kind(
                Kind::Login,
                format!(
                    "{} of {} sampled values are logins built from names",
                    logins(samples),
                    samples.len()
                ),
            );
        }
    }
    if is_key_name(name) && !matches!(tc, TypeClass::Binary) {
        return keep(format!("`{name}` is a key or reference"));
    }
    match tc {
        TypeClass::Number => return keep("numbers"),
        TypeClass::Bool => return keep("true/false"),
        TypeClass::Uuid => return keep("UUIDs (random keys)"),
        TypeClass::Enum => return keep("a fixed set of values (enum)"),
        TypeClass::Date | TypeClass::Temporal => {
            if let Some((Kind::BirthDate, why)) = kind_by_values(samples, tc) {
                return of_kind(Kind::BirthDate, why);
            }
            return keep(if samples.is_empty() {
                "dates and times; no values to sample".to_string()
            } else {
                format!(
                    "{} sampled dates and times, not like birth dates",
                    samples.len()
                )
            });
        }
        _ => {}
    }
    if tc == TypeClass::Text {
        if let Some(why) = codes(samples) {
            return keep(why);
        }
    }
    let what = match tc {
        TypeClass::Binary => "binary",
        TypeClass::Text => "text",
        _ => "unknown-type",
    };
    review(if samples.is_empty() {
        format!("{what} column with no sampled values and no telling name")
    } else {
        format!(
            "{what} column: neither its name nor {} sampled values show what it holds",
            samples.len()
        )
    })
}

/// An array column: a spec for its elements, from the column name and the elements sampled.
fn suggest_array(name: &str, data_type: &str, samples: &[String]) -> Suggestion {
    let elements: Vec<String> = samples
        .iter()
        .filter_map(|s| PgArray::parse(s).ok())
        .flat_map(|a| a.items.into_iter().flatten())
        .take(SAMPLE_ROWS * 4)
        .collect();
    let elem_type = data_type.split('[').next().unwrap_or(data_type);
    if type_class(elem_type, "") != TypeClass::Text {
        return keep(format!("array of {elem_type}"));
    }
    let inner = suggest_column(name, elem_type, "", &elements);
    if inner.spec == "\"keep\"" {
        return keep(format!("array: {}", inner.why));
    }
    if inner.spec.contains("\"review\"") {
        return review(format!(
            "array of text: neither its name nor {} sampled elements show what it holds",
            elements.len()
        ));
    }
    Suggestion {
        spec: format!("{{ transformer = \"array\", element = {} }}", inner.spec),
        why: format!("array, each element: {}", inner.why),
        kind: inner.kind,
    }
}

/// A JSON column: the paths whose keys or values are about people, as `json` paths.
fn suggest_json(name: &str, samples: &[String]) -> Suggestion {
    if let Some((kind, w)) = kind_by_name(name) {
        if matches!(kind, Kind::FreeText | Kind::Secret) {
            return of_kind(
                Kind::Secret,
                format!("column name `{name}` ({w}): JSON, masked whole"),
            );
        }
    }
    let mut leaves: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut docs = 0;
    for s in samples {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(s) {
            docs += 1;
            walk("$", &v, &mut leaves);
        }
    }
    if docs == 0 {
        return review("JSON column with no sampled documents".into());
    }
    let mut paths = Vec::new();
    let mut unknown = Vec::new();
    for (path, vals) in &leaves {
        let key = path
            .rsplit(['.', '['])
            .find(|p| !p.is_empty() && *p != "*]")
            .unwrap_or("")
            .trim_end_matches(']');
        let texts: Vec<String> = vals.clone();
        let s = if let Some((kind, w)) = kind_by_name(key) {
            Some(of_kind(kind, format!("key `{key}` ({w})")))
        } else {
            let tc = if texts
                .iter()
                .all(|t| t.parse::<f64>().is_ok() || t == "true" || t == "false")
            {
                TypeClass::Number
            } else {
                TypeClass::Text
            };
            match tc {
                TypeClass::Number => None,
                _ => kind_by_values(&texts, TypeClass::Text)
                    .map(|(k, why)| of_kind(k, format!("`{path}`: {why}")))
                    .or_else(|| {
                        if codes(&texts).is_none() {
                            unknown.push(path.clone());
                        }
                        None
                    }),
            }
        };
        if let Some(s) = s {
            paths.push((path.clone(), s));
        }
    }
    if !unknown.is_empty() {
        return review(format!(
            "JSON: {} sampled documents; no evidence about {}{}",
            docs,
            unknown
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if unknown.len() > 5 { ", …" } else { "" }
        ));
    }
    if paths.is_empty() {
        return keep(format!(
            "JSON: {docs} sampled documents hold only numbers, booleans and codes"
        ));
    }
    let spec = paths
        .iter()
        .map(|(p, s)| format!("\"{p}\" = {}", s.spec))
        .collect::<Vec<_>>()
        .join(", ");
    Suggestion {
        spec: format!("{{ transformer = \"json\", paths = {{ {spec} }} }}"),
        why: format!(
            "JSON ({docs} sampled documents): {}",
            paths
                .iter()
                .map(|(_, s)| s.why.clone())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        kind: paths.iter().find_map(|(_, s)| s.kind),
    }
}

/// Leaf values of a JSON document by path (`$.a.b`, `$.list[*].x`).
fn walk(path: &str, v: &serde_json::Value, out: &mut BTreeMap<String, Vec<String>>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, c) in m {
                let p = if k.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    format!("{path}.{k}")
                } else {
                    format!("{path}['{k}']")
                };
                walk(&p, c, out);
            }
        }
        serde_json::Value::Array(a) => {
            for c in a {
                walk(&format!("{path}[*]"), c, out);
            }
        }
        serde_json::Value::Null => {}
        serde_json::Value::String(s) => out.entry(path.to_string()).or_default().push(s.clone()),
        other => out
            .entry(path.to_string())
            .or_default()
            .push(other.to_string()),
    }
}

/// A table's suggestions, after the table-level evidence: reference data, subject.
struct TableSuggestion {
    subject: Option<String>,
    columns: Vec<(String, Option<Suggestion>)>,
}

/// Whether a column's name says it references table `t`: `category_id` → `category`,
/// `customerId` → `customers`, `PatientId` → `Patienten`.
fn points_at(column: &str, t: &str) -> bool {
    let n = words(column).concat();
    let Some(stem) = n.strip_suffix("id").filter(|s| s.len() >= 3) else {
        return false;
    };
    let table = words(t).concat();
    stem == singular(&table) || stem == table || (stem.len() >= 4 && table.starts_with(stem))
}

fn singular(t: &str) -> String {
    let t = t.to_ascii_lowercase();
    if let Some(s) = t.strip_suffix("ies") {
        format!("{s}y")
    } else if t.ends_with("ses") || t.ends_with("xes") {
        t[..t.len() - 2].to_string()
    } else {
        t.strip_suffix('s').unwrap_or(&t).to_string()
    }
}

/// Columns of other tables that point at `t` by name (`category_id`, `language_id`).
fn referrers(cat: &Catalog, t: &TableInfo) -> Vec<String> {
    cat.tables
        .iter()
        .filter(|o| !(o.schema == t.schema && o.name == t.name))
        .flat_map(|o| {
            o.columns
                .iter()
                .filter(|c| points_at(&c.name, &t.name))
                .map(move |c| format!("{}.{}", o.name, c.name))
        })
        .collect()
}

fn suggest_table(cat: &Catalog, t: &TableInfo, samples: &[Vec<String>]) -> TableSuggestion {
    let empty = Vec::new();
    let mut cols: Vec<(String, Option<Suggestion>)> = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if c.generated {
                return (c.name.clone(), None);
            }
            let s = samples.get(i).unwrap_or(&empty);
            (
                c.name.clone(),
                Some(suggest_column(&c.name, &c.data_type, &c.base_type, s)),
            )
        })
        .collect();
    let personal = cols
        .iter()
        .filter_map(|(_, s)| s.as_ref()?.kind)
        .any(|k| k.is_personal() && k != Kind::FullName)
        || cols.iter().any(|(n, s)| {
            s.as_ref().and_then(|s| s.kind) == Some(Kind::FullName)
                && kind_by_name(n).is_some_and(|(k, _)| k == Kind::FullName)
        });
    // Reference data: a small table other tables point at, whose name-like values are few and
    // repeat or are labels, is not about people.
    let refs = referrers(cat, t);
    let rows = samples.first().map_or(0, Vec::len);
    if !refs.is_empty() && rows < SAMPLE_ROWS && !personal_by_name(t) {
        for (i, (name, s)) in cols.iter_mut().enumerate() {
            let Some(sugg) = s else { continue };
            let label = matches!(
                words(name).last().map(String::as_str),
                Some(
                    "name"
                        | "title"
                        | "label"
                        | "naam"
                        | "nom"
                        | "nombre"
                        | "nome"
                        | "bezeichnung"
                        | "city"
                        | "country"
                        | "land"
                        | "pays"
                        | "pais"
                        | "paese"
                        | "kraj"
                )
            ) || matches!(
                sugg.kind,
                Some(Kind::FullName | Kind::City | Kind::LastName | Kind::FirstName)
            );
            if label
                && !matches!(
                    sugg.kind,
                    Some(Kind::Email | Kind::Phone | Kind::NationalId)
                )
            {
                let vals = samples.get(i).map_or(0, Vec::len);
                let distinct: HashSet<&String> = samples.get(i).into_iter().flatten().collect();
                *sugg = keep(format!(
                    "reference data: {} has {rows} rows and is referenced by {}; {} distinct of {vals} values",
                    t.name,
                    refs.join(", "),
                    distinct.len()
                ));
            }
        }
    }
    // `name` alone: a person's name in a person table, else no evidence.
    let person = personal || personal_by_name(t);
    for (name, s) in cols.iter_mut() {
        if let Some(sugg) = s {
            if words(name).concat() == "name"
                && sugg.kind.is_none()
                && sugg.spec.contains("review")
                && person
            {
                *sugg = of_kind(Kind::FullName, format!("`{name}` of a table about people"));
            }
        }
    }
    let pk = t.int_pk.clone().or_else(|| {
        t.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case("id"))
            .map(|c| c.name.clone())
    });
    let login = cols
        .iter()
        .find(|(_, s)| s.as_ref().and_then(|s| s.kind) == Some(Kind::Login))
        .map(|(n, _)| n.clone());
    let subject = if person {
        login.clone().or(pk)
    } else {
        // A table pointing at a person table: its reference is the subject.
        person_tables(cat).into_iter().find_map(|pt| {
            t.columns
                .iter()
                .find(|c| points_at(&c.name, &pt))
                .map(|c| c.name.clone())
        })
    };
    // Logins read the person's names, where the table has them.
    let find = |k: Kind| {
        cols.iter()
            .find(|(_, s)| s.as_ref().and_then(|s| s.kind) == Some(k))
            .map(|(n, _)| format!("\"{n}\""))
    };
    let from = match (
        find(Kind::FirstName),
        find(Kind::LastName),
        find(Kind::FullName),
    ) {
        (Some(f), Some(l), _) => Some(format!("{f}, {l}")),
        (_, _, Some(n)) => Some(n),
        _ => None,
    };
    for (_, s) in cols.iter_mut() {
        if let (Some(s), Some(from)) = (s.as_mut(), &from) {
            if s.spec == "\"username\"" {
                s.spec = format!("{{ transformer = \"username\", from = [{from}] }}");
            }
        }
    }
    if !person {
        // Logins in a table not about the person (`changed_by`): the login is its own subject.
        for (name, s) in cols.iter_mut() {
            if let Some(s) = s.as_mut() {
                if s.spec == "\"username\"" {
                    s.spec = format!("{{ transformer = \"username\", subject = \"{name}\" }}");
                    s.why.push_str(
                        "; a login of someone else than the row's subject: its own subject",
                    );
                }
            }
        }
    }
    TableSuggestion {
        subject,
        columns: cols,
    }
}

/// Whether a table's column names alone say it is about people.
fn personal_by_name(t: &TableInfo) -> bool {
    t.columns
        .iter()
        .any(|c| kind_by_name(&c.name).is_some_and(|(k, _)| k.is_personal() && k != Kind::FullName))
}

fn person_tables(cat: &Catalog) -> Vec<String> {
    cat.tables
        .iter()
        .filter(|t| personal_by_name(t))
        .map(|t| t.name.clone())
        .collect()
}

fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        format!("\"{}\"", k.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// A whole policy for a catalog; `samples[table][column]` are sampled non-NULL values as text.
pub fn suggest_policy(cat: &Catalog, samples: &[Vec<Vec<String>>]) -> String {
    let mut out = String::from(
        "# Masking policy suggested by `valet policy suggest`. Every line's comment gives the\n\
         # evidence. Columns marked \"review\" had none either way: the clone refuses to run until\n\
         # each is decided. Review the rest too: a wrong \"keep\" leaks.\n\
         version = 1\n\n",
    );
    let empty = Vec::new();
    for (ti, t) in cat.tables.iter().enumerate() {
        if t.partition_root.is_some() {
            continue;
        }
        let key = toml_key(&policy_table_key(&t.schema, &t.name, &cat.default_schema));
        let ts = suggest_table(cat, t, samples.get(ti).unwrap_or(&empty));
        out.push_str(&format!("[tables.{key}]\n"));
        if let Some(s) = &ts.subject {
            out.push_str(&format!("subject = {}\n", toml_key_value(s)));
        }
        out.push_str(&format!("[tables.{key}.columns]\n"));
        for (name, s) in &ts.columns {
            match s {
                None => out.push_str(&format!(
                    "# {name} is generated by the database: recomputed, not copied\n"
                )),
                Some(s) if s.kind.is_none() && s.spec.contains("\"review\"") => out.push_str(
                    &format!(
                        "{} = {}  # decide: a transformer, or \"keep\" if it holds nothing about people\n",
                        toml_key(name),
                        s.spec
                    ),
                ),
                Some(s) => out.push_str(&format!("{} = {}  # {}\n", toml_key(name), s.spec, s.why)),
            }
        }
        out.push('\n');
    }
    out
}

fn toml_key_value(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A column for the unclassified-columns snippet of a clone (one value sampled, or none).
pub(crate) fn snippet_line(c: &ColumnInfo, sample: Option<&str>) -> (String, String) {
    let samples: Vec<String> = sample.map(str::to_string).into_iter().collect();
    let s = suggest_column(&c.name, &c.data_type, &c.base_type, &samples);
    (s.spec, s.why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, t: &str, samples: &[&str]) -> String {
        let s: Vec<String> = samples.iter().map(|x| x.to_string()).collect();
        suggest_for_column(name, t, &s).0
    }

    #[test]
    fn names_in_many_languages_and_cases() {
        for (name, want) in [
            ("first_name", "\"first_name\""),
            ("Vorname", "\"first_name\""),
            ("prénom", "\"first_name\""),
            ("voornaam", "\"first_name\""),
            ("fname", "\"first_name\""),
            ("patientFirstName", "\"first_name\""),
            ("Nachname", "\"last_name\""),
            ("achternaam", "\"last_name\""),
            ("apellidos", "\"last_name\""),
            ("cognome", "\"last_name\""),
            ("nazwisko", "\"last_name\""),
            ("efternamn", "\"last_name\""),
            ("Geschlecht", "\"sex\""),
            ("płeć", "\"sex\""),
            ("emailAddress", "\"email\""),
            ("Telefonnummer", "\"phone\""),
            ("nhs_no", "{ transformer = \"hmac\", length = 16 }"),
            ("BSN", "{ transformer = \"hmac\", length = 16 }"),
            ("mrn", "{ transformer = \"hmac\", length = 16 }"),
            ("PasswordHash", "\"null\""),
            ("api_key", "\"null\""),
            ("Benutzername", "\"username\""),
            ("Straße", "{ transformer = \"address\", part = \"line\" }"),
            (
                "woonplaats",
                "{ transformer = \"address\", part = \"city\" }",
            ),
            ("PLZ", "{ transformer = \"address\", part = \"postcode\" }"),
            (
                "opmerking",
                "{ transformer = \"free_text\", mode = \"lorem\" }",
            ),
        ] {
            assert_eq!(spec(name, "varchar(100)", &[]), want, "{name}");
        }
        for name in [
            "Geburtsdatum",
            "dob",
            "fecha_nacimiento",
            "fødselsdato",
            "DateOfBirth",
        ] {
            assert!(spec(name, "date", &[]).contains("date_of_birth"), "{name}");
        }
        assert_eq!(spec("photo", "bytea", &[]), "\"null\"");
        assert!(spec("nomination", "text", &[]).contains("review"));
    }

    #[test]
    fn text_without_evidence_is_reviewed_and_keep_needs_evidence() {
        assert!(spec("misc", "text", &[]).contains("\"review\""));
        assert!(spec("blob_data", "blob", &["\\x0001"]).contains("\"review\""));
        assert_eq!(spec("amount", "numeric(10,2)", &["1.5"]), "\"keep\"");
        assert_eq!(
            spec("secret_code", "numeric", &["1000"]),
            "{ transformer = \"constant\", value = \"0\" }",
            "a secret kept as a number is still a secret"
        );
        assert_eq!(
            spec("otp", "integer", &["123456"]),
            "{ transformer = \"constant\", value = \"0\" }"
        );
        assert_eq!(spec("volunteer_id", "bigint", &[]), "\"keep\"");
        assert_eq!(
            spec("created_at", "timestamptz", &["2024-01-02 10:00:00+00"]),
            "\"keep\""
        );
        let codes = ["A1", "B2", "A1", "A1", "B2", "A1", "C3", "A1"];
        assert_eq!(spec("status", "varchar(8)", &codes), "\"keep\"");
    }

    #[test]
    fn values_are_detected_with_their_check_digits() {
        assert!(is_iban("GB82 WEST 1234 5698 7654 32"));
        assert!(!is_iban("GB83 WEST 1234 5698 7654 32"));
        assert!(is_nhs("943 476 5919"));
        assert!(!is_nhs("943 476 5918"));
        assert!(is_bsn("111222333"));
        assert!(!is_bsn("111222334"));
        assert!(is_ssn("123-45-6789") && !is_ssn("666-45-6789"));
        assert_eq!(
            spec(
                "ref",
                "text",
                &["GB82 WEST 1234 5698 7654 32", "NL91ABNA0417164300"]
            ),
            "{ transformer = \"hmac\", length = 16 }"
        );
        assert_eq!(
            spec("contact", "text", &["a.b@c.org", "x@y.nl"]),
            "\"email\""
        );
        assert_eq!(
            spec("c", "text", &["+44 20 7946 0001", "020 7946 0002"]),
            "\"phone\""
        );
        assert!(
            spec("d", "date", &["1961-03-02", "1984-11-30", "1950-01-01"])
                .contains("date_of_birth")
        );
        assert_eq!(
            spec("who", "text", &["Anna Kowalczyk", "Jan Jansen", "x"]),
            "\"full_name\""
        );
        assert_eq!(
            spec("attachment", "bytea", &["\\x89504e470d0a", "\\xffd8ffe0"]),
            "\"null\""
        );
        assert_eq!(
            spec("host", "text", &["10.0.0.1", "2001:db8::1"]),
            "{ transformer = \"hmac\", length = 16 }"
        );
    }

    #[test]
    fn json_and_arrays_are_walked() {
        let docs = [
            r#"{"contact":{"email":"a@b.org","phone":"+44 20 7946 0001"},"n":3,"kind":"A"}"#,
            r#"{"contact":{"email":"c@d.org"},"n":4,"kind":"A"}"#,
        ];
        let s = spec("prefs", "jsonb", &docs);
        assert!(s.starts_with("{ transformer = \"json\""), "{s}");
        assert!(s.contains("\"$.contact.email\" = \"email\""), "{s}");
        assert!(s.contains("\"$.contact.phone\" = \"phone\""), "{s}");
        assert!(!s.contains("$.n"), "{s}");
        let a = spec("aliases", "text[]", &["{Anna,\"Jan Jansen\"}", "{Peter}"]);
        assert!(
            a.starts_with("{ transformer = \"array\", element = "),
            "{a}"
        );
        assert!(spec("tags", "text[]", &["{x1,y2}"]).contains("review"));
        assert_eq!(spec("scores", "integer[]", &["{1,2}"]), "\"keep\"");
    }

    fn col(name: &str, t: &str) -> ColumnInfo {
        ColumnInfo {
            name: name.into(),
            data_type: t.into(),
            generated: false,
            text_like: t.contains("char") || t == "text",
            type_oid: 0,
            base_type: String::new(),
        }
    }

    fn table(name: &str, cols: Vec<ColumnInfo>) -> TableInfo {
        TableInfo {
            schema: "main".into(),
            name: name.into(),
            columns: cols,
            partition_root: None,
            has_rows: true,
            estimated_rows: 1,
            int_pk: Some("id".into()),
        }
    }

    #[test]
    fn reference_data_stays_and_subjects_are_inferred() {
        let cat = Catalog {
            default_schema: "main".into(),
            tables: vec![
                table(
                    "category",
                    vec![col("id", "integer"), col("name", "varchar(25)")],
                ),
                table(
                    "customer",
                    vec![
                        col("id", "integer"),
                        col("first_name", "varchar(45)"),
                        col("last_name", "varchar(45)"),
                        col("username", "varchar(16)"),
                    ],
                ),
                table(
                    "rental",
                    vec![
                        col("id", "integer"),
                        col("customer_id", "integer"),
                        col("category_id", "integer"),
                        col("changed_by", "varchar(16)"),
                    ],
                ),
            ],
        };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let samples = vec![
            vec![s(&["1", "2", "3"]), s(&["Action", "Comedy", "Drama"])],
            vec![s(&["1"]), s(&["Anna"]), s(&["Smith"]), s(&["a.smith"])],
            vec![s(&["1"]), s(&["1"]), s(&["1"]), s(&["a.smith", "b.jones"])],
        ];
        let p = suggest_policy(&cat, &samples);
        assert!(p.contains("name = \"keep\"  # reference data: category has 3 rows and is referenced by rental.category_id"), "{p}");
        assert!(
            p.contains("[tables.customer]\nsubject = \"username\""),
            "{p}"
        );
        assert!(
            p.contains(
                "username = { transformer = \"username\", from = [\"first_name\", \"last_name\"] }"
            ),
            "{p}"
        );
        assert!(
            p.contains("[tables.rental]\nsubject = \"customer_id\""),
            "{p}"
        );
        assert!(
            p.contains("changed_by = { transformer = \"username\", subject = \"changed_by\" }"),
            "{p}"
        );
        crate::Policy::from_toml_str(&p, "suggested").expect("a valid policy");
    }
}
