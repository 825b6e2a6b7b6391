//! The console's words in Spanish and English, and how dates are written in each. The language
//! comes from `?lang=` (kept in a cookie), else the browser's `Accept-Language`, else Spanish
//! (the language of the customs administrations cadena serves first).

use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// A language of the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// Spanish.
    Es,
    /// English.
    En,
}

impl Lang {
    /// Its code (`es`, `en`).
    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
        }
    }

    /// The language named `code`, if the console speaks it.
    pub fn parse(code: &str) -> Option<Lang> {
        match code.trim().get(..2).map(str::to_ascii_lowercase).as_deref() {
            Some("es") => Some(Lang::Es),
            Some("en") => Some(Lang::En),
            _ => None,
        }
    }

    /// The first language of an `Accept-Language` header the console speaks (by weight).
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut ranges: Vec<(f32, &str)> = header
            .split(',')
            .map(|range| {
                let mut parts = range.split(';');
                let tag = parts.next().unwrap_or_default().trim();
                let q =
                    parts.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
                (q, tag)
            })
            .collect();
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranges.into_iter().filter(|(q, _)| *q > 0.0).find_map(|(_, tag)| Lang::parse(tag))
    }

    /// The other language (the switch offers it).
    pub fn other(self) -> Lang {
        match self {
            Lang::Es => Lang::En,
            Lang::En => Lang::Es,
        }
    }

    /// The console's words in this language.
    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Es => &ES,
            Lang::En => &EN,
        }
    }

    /// A date as people of this language write it.
    pub fn date(self, date: NaiveDate) -> String {
        const ES_MONTHS: [&str; 12] =
            ["ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"];
        const EN_MONTHS: [&str; 12] =
            ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let month = date.month0() as usize;
        match self {
            Lang::Es => format!("{} {} {}", date.day(), ES_MONTHS[month], date.year()),
            Lang::En => format!("{} {}, {}", EN_MONTHS[month], date.day(), date.year()),
        }
    }

    /// A moment (UTC) as people of this language write it.
    pub fn moment(self, at: DateTime<Utc>) -> String {
        format!("{} {} UTC", self.date(at.date_naive()), at.format("%H:%M:%S"))
    }

    /// A status's name.
    pub fn status(self, status: &str) -> &'static str {
        let es = self == Lang::Es;
        match status {
            "SUBMITTED" => {
                if es {
                    "Presentada"
                } else {
                    "Submitted"
                }
            }
            "GRANTED" => {
                if es {
                    "Otorgada"
                } else {
                    "Granted"
                }
            }
            "REJECTED" => {
                if es {
                    "Rechazada"
                } else {
                    "Rejected"
                }
            }
            "SUSPENDED" => {
                if es {
                    "Suspendida"
                } else {
                    "Suspended"
                }
            }
            "REVOKED" => {
                if es {
                    "Revocada"
                } else {
                    "Revoked"
                }
            }
            "ANNULLED" => {
                if es {
                    "Anulada"
                } else {
                    "Annulled"
                }
            }
            "EXPIRED" => {
                if es {
                    "Vencida"
                } else {
                    "Expired"
                }
            }
            "AMENDED" => {
                if es {
                    "Reemplazada"
                } else {
                    "Amended"
                }
            }
            _ => {
                if es {
                    "Desconocido"
                } else {
                    "Unknown"
                }
            }
        }
    }
}

/// Every word of the console in one language.
#[derive(Debug)]
pub struct Texts {
    pub console: &'static str,
    pub skip: &'static str,
    pub login_title: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub log_in: &'static str,
    pub log_out: &'static str,
    pub bad_credentials: &'static str,
    pub signed_in_as: &'static str,
    pub language: &'static str,
    pub nav_certifications: &'static str,
    pub nav_recognition: &'static str,
    pub certifications_title: &'static str,
    pub search_tin: &'static str,
    pub search: &'static str,
    pub none_found: &'static str,
    pub number: &'static str,
    pub operator: &'static str,
    pub tin: &'static str,
    pub certificate_type: &'static str,
    pub status: &'static str,
    pub valid_from: &'static str,
    pub valid_until: &'static str,
    pub open_ended: &'static str,
    pub issuing_country: &'static str,
    pub issuing_authority: &'static str,
    pub version: &'static str,
    pub confers_benefits: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub partner_record: &'static str,
    pub history: &'static str,
    pub chain_intact: &'static str,
    pub chain_broken: &'static str,
    pub by: &'static str,
    pub reason: &'static str,
    pub on_chain: &'static str,
    pub block: &'static str,
    pub not_yet_anchored: &'static str,
    pub credential: &'static str,
    pub download_json: &'static str,
    pub recognition_title: &'static str,
    pub recognition_help: &'static str,
    pub country: &'static str,
    pub look_up: &'static str,
    pub source: &'static str,
    pub source_local: &'static str,
    pub source_partner: &'static str,
    pub not_recognised: &'static str,
    pub forbidden_title: &'static str,
    pub not_found_title: &'static str,
    pub bad_request_title: &'static str,
    pub back: &'static str,
}

const ES: Texts = Texts {
    console: "Consola aduanera",
    skip: "Saltar al contenido",
    login_title: "Iniciar sesión",
    username: "Usuario",
    password: "Contraseña",
    log_in: "Entrar",
    log_out: "Cerrar sesión",
    bad_credentials: "Usuario o contraseña incorrectos.",
    signed_in_as: "Sesión de",
    language: "English",
    nav_certifications: "Certificaciones",
    nav_recognition: "Reconocimiento",
    certifications_title: "Certificaciones OEA",
    search_tin: "Identificación tributaria (RFC, NIT…)",
    search: "Buscar",
    none_found: "No hay certificaciones.",
    number: "Número",
    operator: "Operador",
    tin: "Identificación tributaria",
    certificate_type: "Tipo",
    status: "Estado",
    valid_from: "Vigente desde",
    valid_until: "Vigente hasta",
    open_ended: "sin fecha de fin",
    issuing_country: "País emisor",
    issuing_authority: "Autoridad emisora",
    version: "Versión",
    confers_benefits: "Otorga beneficios",
    yes: "Sí",
    no: "No",
    partner_record: "Registro de un socio ARM (solo lectura)",
    history: "Historial",
    chain_intact: "Cadena de hashes íntegra",
    chain_broken: "Cadena de hashes rota",
    by: "por",
    reason: "Motivo",
    on_chain: "Anclado en la cadena",
    block: "bloque",
    not_yet_anchored: "aún no anclado",
    credential: "Credencial verificable",
    download_json: "Descargar (JSON)",
    recognition_title: "Reconocimiento de un operador",
    recognition_help: "Estado y vigencia de las certificaciones OEA de un operador, aquí y en los socios ARM.",
    country: "País (código ISO)",
    look_up: "Consultar",
    source: "Origen",
    source_local: "esta aduana",
    source_partner: "socio ARM",
    not_recognised: "Este operador no tiene certificación OEA conocida.",
    forbidden_title: "No autorizado",
    not_found_title: "No encontrado",
    bad_request_title: "Solicitud no válida",
    back: "Volver",
};

const EN: Texts = Texts {
    console: "Customs console",
    skip: "Skip to content",
    login_title: "Log in",
    username: "Username",
    password: "Password",
    log_in: "Log in",
    log_out: "Log out",
    bad_credentials: "Wrong username or password.",
    signed_in_as: "Signed in as",
    language: "Español",
    nav_certifications: "Certifications",
    nav_recognition: "Recognition",
    certifications_title: "AEO certifications",
    search_tin: "Trader ID (RFC, NIT…)",
    search: "Search",
    none_found: "No certifications.",
    number: "Number",
    operator: "Operator",
    tin: "Trader ID",
    certificate_type: "Type",
    status: "Status",
    valid_from: "Valid from",
    valid_until: "Valid until",
    open_ended: "open-ended",
    issuing_country: "Issuing country",
    issuing_authority: "Issuing authority",
    version: "Version",
    confers_benefits: "Confers benefits",
    yes: "Yes",
    no: "No",
    partner_record: "An MRA partner's record (read-only)",
    history: "History",
    chain_intact: "Hash chain intact",
    chain_broken: "Hash chain broken",
    by: "by",
    reason: "Reason",
    on_chain: "Anchored on chain",
    block: "block",
    not_yet_anchored: "not anchored yet",
    credential: "Verifiable credential",
    download_json: "Download (JSON)",
    recognition_title: "An operator's recognition",
    recognition_help: "Status and validity of an operator's AEO certifications, here and at MRA partners.",
    country: "Country (ISO code)",
    look_up: "Look up",
    source: "Source",
    source_local: "this customs",
    source_partner: "MRA partner",
    not_recognised: "No AEO certification of this operator is known.",
    forbidden_title: "Not allowed",
    not_found_title: "Not found",
    bad_request_title: "Bad request",
    back: "Back",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_heaviest_spoken_language() {
        assert_eq!(Lang::from_accept_language("fr-CH, fr;q=0.9, en;q=0.8, es;q=0.7"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("es-MX,es;q=0.9"), Some(Lang::Es));
        assert_eq!(Lang::from_accept_language("en;q=0.1, es-CO;q=0.5"), Some(Lang::Es));
        assert_eq!(Lang::from_accept_language("de, fr"), None);
        assert_eq!(Lang::from_accept_language("en;q=0"), None);
    }

    #[test]
    fn dates_are_written_as_each_language_writes_them() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        assert_eq!(Lang::Es.date(date), "4 dic 2026");
        assert_eq!(Lang::En.date(date), "Dec 4, 2026");
    }
}
