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
        let t = self.texts();
        match status {
            "SUBMITTED" => t.status_submitted,
            "GRANTED" => t.status_granted,
            "REJECTED" => t.status_rejected,
            "SUSPENDED" => t.status_suspended,
            "REVOKED" => t.status_revoked,
            "ANNULLED" => t.status_annulled,
            "EXPIRED" => t.status_expired,
            "AMENDED" => t.status_amended,
            _ => t.unknown,
        }
    }

    /// A certificate type's name.
    pub fn certificate_type(self, code: &str) -> &'static str {
        let t = self.texts();
        match code {
            "SECURITY_AND_SAFETY" => t.type_security_and_safety,
            "CUSTOMS_SIMPLIFICATIONS" => t.type_customs_simplifications,
            "FULL" => t.type_full,
            _ => t.unknown,
        }
    }

    /// A supply-chain role's name (WCO SAFE Framework).
    pub fn role(self, code: &str) -> &'static str {
        const NAMES: [(&str, &str, &str); 14] = [
            ("MANUFACTURER", "Fabricante", "Manufacturer"),
            ("IMPORTER", "Importador", "Importer"),
            ("EXPORTER", "Exportador", "Exporter"),
            ("CUSTOMS_BROKER", "Agente de aduanas", "Customs broker"),
            ("CARRIER", "Transportista", "Carrier"),
            ("CONSOLIDATOR", "Consolidador", "Consolidator"),
            ("INTERMEDIARY", "Intermediario", "Intermediary"),
            ("PORT_OPERATOR", "Operador portuario", "Port operator"),
            ("AIRPORT_OPERATOR", "Operador aeroportuario", "Airport operator"),
            ("TERMINAL_OPERATOR", "Operador de terminal", "Terminal operator"),
            ("INTEGRATED_OPERATOR", "Operador integrado", "Integrated operator"),
            ("WAREHOUSE", "Almacén", "Warehouse"),
            ("DISTRIBUTOR", "Distribuidor", "Distributor"),
            ("FREIGHT_FORWARDER", "Agente de carga", "Freight forwarder"),
        ];
        NAMES.iter().find(|(c, _, _)| *c == code).map_or(self.texts().unknown, |(_, es, en)| match self {
            Lang::Es => es,
            Lang::En => en,
        })
    }
}

/// Declares [`Texts`] and its two instances from one list: each word once, Spanish beside
/// English, so neither language can miss one.
macro_rules! texts {
    ($($name:ident: $es:literal / $en:literal,)*) => {
        /// Every word of the console in one language.
        #[derive(Debug)]
        pub struct Texts {
            $(pub $name: &'static str,)*
        }
        const ES: Texts = Texts { $($name: $es,)* };
        const EN: Texts = Texts { $($name: $en,)* };
    };
}

texts! {
    console: "Consola aduanera" / "Customs console",
    skip: "Saltar al contenido" / "Skip to content",
    login_title: "Iniciar sesión" / "Log in",
    username: "Usuario" / "Username",
    password: "Contraseña" / "Password",
    log_in: "Entrar" / "Log in",
    log_out: "Cerrar sesión" / "Log out",
    bad_credentials: "Usuario o contraseña incorrectos." / "Wrong username or password.",
    signed_in_as: "Sesión de" / "Signed in as",
    language: "English" / "Español",
    nav_certifications: "Certificaciones" / "Certifications",
    nav_submissions: "Mis solicitudes" / "My submissions",
    nav_submit: "Nueva certificación" / "New certification",
    nav_queue: "Por aprobar" / "Approval queue",
    nav_partners: "Socios ARM" / "Partner feed",
    nav_recognition: "Reconocimiento" / "Recognition",
    certifications_title: "Certificaciones OEA" / "AEO certifications",
    search_tin: "Identificación tributaria (RFC, NIT…)" / "Trader ID (RFC, NIT…)",
    search_name: "Nombre del operador" / "Operator name",
    search: "Buscar" / "Search",
    none_found: "No hay certificaciones." / "No certifications.",
    number: "Número" / "Number",
    operator: "Operador" / "Operator",
    tin: "Identificación tributaria" / "Trader ID",
    certificate_type: "Tipo" / "Type",
    status: "Estado" / "Status",
    valid_from: "Vigente desde" / "Valid from",
    valid_until: "Vigente hasta" / "Valid until",
    open_ended: "sin fecha de fin" / "open-ended",
    issuing_country: "País emisor" / "Issuing country",
    issuing_authority: "Autoridad emisora" / "Issuing authority",
    version: "Versión" / "Version",
    confers_benefits: "Otorga beneficios" / "Confers benefits",
    yes: "Sí" / "Yes",
    no: "No" / "No",
    partner_record: "Registro de un socio ARM (solo lectura)" / "An MRA partner's record (read-only)",
    verified_from: "Verificada, de" / "Verified, from",
    history: "Historial" / "History",
    chain_intact: "Cadena de hashes íntegra" / "Hash chain intact",
    chain_broken: "Cadena de hashes rota" / "Hash chain broken",
    by: "por" / "by",
    reason: "Motivo" / "Reason",
    on_chain: "Anclado en la cadena" / "Anchored on chain",
    block: "bloque" / "block",
    not_yet_anchored: "aún no anclado" / "not anchored yet",
    credential: "Credencial verificable" / "Verifiable credential",
    download_json: "Descargar (JSON)" / "Download (JSON)",
    recognition_title: "Reconocimiento de un operador" / "An operator's recognition",
    recognition_help: "Estado y vigencia de las certificaciones OEA de un operador, aquí y en los socios ARM."
        / "Status and validity of an operator's AEO certifications, here and at MRA partners.",
    country: "País (código ISO)" / "Country (ISO code)",
    look_up: "Consultar" / "Look up",
    source: "Origen" / "Source",
    source_local: "esta aduana" / "this customs",
    source_partner: "socio ARM" / "MRA partner",
    not_recognised: "Este operador no tiene certificación OEA conocida." / "No AEO certification of this operator is known.",
    forbidden_title: "No autorizado" / "Not allowed",
    not_found_title: "No encontrado" / "Not found",
    bad_request_title: "Solicitud no válida" / "Bad request",
    back: "Volver" / "Back",
    unknown: "Desconocido" / "Unknown",
    status_submitted: "Presentada" / "Submitted",
    status_granted: "Otorgada" / "Granted",
    status_rejected: "Rechazada" / "Rejected",
    status_suspended: "Suspendida" / "Suspended",
    status_revoked: "Revocada" / "Revoked",
    status_annulled: "Anulada" / "Annulled",
    status_expired: "Vencida" / "Expired",
    status_amended: "Reemplazada" / "Amended",
    type_security_and_safety: "Seguridad y protección" / "Security and safety",
    type_customs_simplifications: "Simplificaciones aduaneras" / "Customs simplifications",
    type_full: "Completa" / "Full",
    submitted_by: "Presentada por" / "Submitted by",
    submitted_at: "Presentada el" / "Submitted on",
    queue_title: "Certificaciones por aprobar" / "Certifications awaiting approval",
    queue_empty: "No hay certificaciones por aprobar." / "Nothing awaits approval.",
    own_submission: "La presentó usted: otro aprobador debe decidir (cuatro ojos)."
        / "You submitted it: another approver must decide (four eyes).",
    decision: "Decisión" / "Decision",
    decision_reason: "Motivo (queda en el historial)" / "Reason (kept in the history)",
    decision_refused: "La decisión no se registró" / "The decision was not recorded",
    approve: "Aprobar" / "Approve",
    reject: "Rechazar" / "Reject",
    suspend: "Suspender" / "Suspend",
    reinstate: "Rehabilitar" / "Reinstate",
    revoke: "Revocar" / "Revoke",
    annul: "Anular" / "Annul",
    amend: "Modificar" / "Amend",
    submissions_title: "Mis solicitudes" / "My submissions",
    submit_title: "Nueva certificación OEA" / "New AEO certification",
    amend_title: "Modificar la certificación" / "Amend the certification",
    data_set: "Datos del operador (conjunto de datos OEA de la OMA)" / "The operator (WCO AEO data set)",
    validity: "Autorización y vigencia" / "Authorisation and validity",
    legal_name: "Razón social" / "Legal name",
    street: "Calle y número" / "Street",
    city: "Ciudad" / "City",
    sub_entity: "Estado o provincia" / "State or province",
    postcode: "Código postal" / "Postcode",
    address_country: "País del domicilio (código ISO)" / "Country of the address (ISO code)",
    roles: "Funciones en la cadena logística" / "Supply-chain roles",
    authorisation_date: "Fecha de autorización" / "Authorisation date",
    last_validation_date: "Última validación" / "Last validation",
    operator_did: "DID del operador" / "Operator's DID",
    optional: "opcional" / "optional",
    check: "Revisar" / "Check",
    submit: "Presentar" / "Submit",
    fields_ok: "Todos los campos son válidos: puede presentarla." / "Every field is valid: you may submit it.",
    fields_wrong: "Corrija los campos señalados." / "Correct the fields marked.",
    partners_title: "Lo que envían los socios ARM" / "What MRA partners send",
    partners_live: "En vivo: lo nuevo aparece aquí sin recargar la página." / "Live: what arrives appears here without reloading.",
    partners_empty: "Aún no llegó nada." / "Nothing has arrived yet.",
    partner: "Socio" / "Partner",
    received_at: "Recibido" / "Received",
    refused_title: "Mensajes rechazados" / "Refused messages",
    refused_none: "Ningún mensaje rechazado." / "No message refused.",
    message_number: "Mensaje n.º" / "Message no.",
    nav_verify: "Verificar credencial" / "Verify a credential",
    nav_admin: "Administración" / "Administration",
    verify_title: "Verificar una credencial" / "Verify a credential",
    wallet_offer: "Enviar a la billetera de la empresa" / "Send to the firm's wallet",
    wallet_offer_title: "Oferta para la billetera de la empresa" / "Offer for the firm's wallet",
    wallet_offer_help: "La empresa escanea el código con su billetera (OpenID4VCI) y escribe el código de transacción, que usted le entrega por otro medio. La oferta sirve una vez."
        / "The firm scans the code with its wallet (OpenID4VCI) and types the transaction code, which you give it by another channel. The offer works once.",
    tx_code: "Código de transacción" / "Transaction code",
    wallet_link: "Enlace para la billetera" / "Link for the wallet",
    wallet_events: "Entregas a billeteras" / "Deliveries to wallets",
    nav_wallet_requests: "Pedir prueba a una billetera" / "Ask a wallet for proof",
    wallet_request_title: "Pedir prueba de la certificación OEA" / "Ask for proof of AEO certification",
    wallet_request_help: "Genere una solicitud (OpenID4VP) y muéstrela a la empresa: su billetera responde una vez; el informe aparece aquí."
        / "Create a request (OpenID4VP) and show it to the firm: its wallet answers once; the report appears here.",
    wallet_format: "Formato" / "Format",
    wallet_claims: "Datos que la empresa debe revelar (ninguno: solo estado y vigencia)" / "Claims the firm must disclose (none: status and validity only)",
    wallet_request_button: "Crear la solicitud" / "Create the request",
    wallet_pending: "Esperando la respuesta de la billetera; recargue la página." / "Waiting for the wallet's answer; reload the page.",
    wallet_expired: "La solicitud venció sin respuesta." / "The request expired unanswered.",
    wallet_recheck: "Verificar de nuevo ahora" / "Check again now",
    wallet_disclosed: "Revelado por la empresa" / "Disclosed by the firm",
    wallet_nothing_disclosed: "nada más que estado, tipo y vigencia" / "nothing beyond status, type and validity",
    verify_help: "Pegue la credencial o presentación verificable (JSON) que le mostró la empresa, o elija el archivo: la verifica este nodo."
        / "Paste the verifiable credential or presentation (JSON) the firm showed you, or choose its file: this node verifies it.",
    challenge_help: "Para una presentación, la billetera de la empresa debe firmar este desafío, válido una vez:"
        / "For a presentation, the firm's wallet must sign this one-time challenge:",
    until: "hasta" / "until",
    holder: "Titular" / "Holder",
    fragment_holder_proof: "Firma del titular (presentación)" / "Holder's signature (presentation)",
    fragment_challenge: "Desafío de esta verificación" / "This verification's challenge",
    fragment_holder_binding: "La credencial es del titular" / "The credential is the holder's",
    verify_file: "Archivo de la credencial" / "Credential file",
    verify_paste: "Credencial o presentación (JSON)" / "Credential or presentation (JSON)",
    verify_button: "Verificar" / "Verify",
    not_json: "no es JSON" / "is not JSON",
    verdict_aeo: "Certificación OEA válida" / "A valid AEO certification",
    verdict_verified: "Credencial válida, pero no es una certificación OEA" / "A valid credential, but not an AEO certification",
    verdict_not_verified: "La credencial NO es válida" / "The credential does NOT verify",
    issuer: "Emisor" / "Issuer",
    fragment: "Comprobación" / "Check",
    outcome: "Resultado" / "Outcome",
    why: "Por qué" / "Why",
    outcome_valid: "Correcto" / "Valid",
    outcome_invalid: "No válido" / "Invalid",
    outcome_skipped: "No comprobado" / "Not checked",
    outcome_error: "No se pudo comprobar" / "Could not be checked",
    fragment_integrity: "Firma (integridad)" / "Signature (integrity)",
    fragment_issuer: "Emisor de confianza" / "Trusted issuer",
    fragment_status: "Estado (revocación, suspensión)" / "Status (revocation, suspension)",
    fragment_validity: "Periodo de vigencia" / "Validity period",
    fragment_anchor: "Anclaje en la cadena" / "Anchor on chain",
    admin_title: "Administración del nodo" / "Node administration",
    action_refused: "No se hizo" / "Not done",
    node_identity: "Identidad del nodo" / "Node identity",
    signing_key: "Clave de firma" / "Signing key",
    agreement_key: "Clave de cifrado (socios)" / "Encryption key (partners)",
    chain: "Cadena" / "Chain",
    no_chain: "sin cadena configurada" / "no chain configured",
    anchoring_waiting: "Anclajes en espera" / "Anchoring waiting",
    oldest_since: "el más antiguo desde hace" / "the oldest for",
    officers: "Funcionarios" / "Officers",
    officer_roles: "Roles" / "Roles",
    action: "Acción" / "Action",
    enabled: "activo" / "enabled",
    disabled: "desactivado" / "disabled",
    enable: "Activar" / "Enable",
    disable: "Desactivar" / "Disable",
    new_officer: "Nuevo funcionario" / "New officer",
    create: "Crear" / "Create",
    mras: "Acuerdos de reconocimiento mutuo (ARM)" / "Mutual recognition arrangements (MRAs)",
    no_mras: "Ningún ARM." / "No MRA.",
    scope: "Alcance" / "Scope",
    resume: "Reanudar" / "Resume",
    terminate: "Terminar" / "Terminate",
    propose_or_accept: "Proponer o aceptar un ARM" / "Propose or accept an MRA",
    propose: "Proponer" / "Propose",
    accept: "Aceptar" / "Accept",
    webhook_deliveries: "Entregas de webhooks" / "Webhook deliveries",
    no_deliveries: "Ninguna entrega." / "No delivery.",
    attempts: "Intentos" / "Attempts",
    last_error: "Último error" / "Last error",
    when: "Cuándo" / "When",
}

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
