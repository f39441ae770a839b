//! `smtp.url`: its forms (see the parent module), parsed with the `url`
//! crate into what the transport needs. Errors name the part that is wrong,
//! never the password.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Security {
    Plain,
    /// Implicit TLS from the first byte (SMTPS).
    Wrapper,
    StartTls,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) struct SmtpUrl {
    pub(super) security: Security,
    pub(super) host: String,
    pub(super) port: u16,
    /// User and password, percent-decoded.
    pub(super) credentials: Option<(String, String)>,
    /// The password as the URL holds it (percent-encoded).
    pub(super) encoded_password: Option<String>,
}

pub(super) fn host_for_display(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

const FORMS: &str = "expected smtp://host[:port], smtps://host[:port] or smtp+starttls://host[:port], \
    optionally with user:password@ before the host";

/// Parses `smtp.url` with the `url` crate. Messages name the part that is
/// wrong, never the password (`url::ParseError` never quotes its input).
pub(super) fn parse_url(text: &str) -> Result<SmtpUrl, String> {
    // The scheme is judged before the rest, so a wrong scheme is named as such.
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(format!("smtp.url is not a URL: {FORMS}"));
    };
    let (security, default_port) = security_of(scheme)?;
    // The URL standard drops tabs and line breaks silently; a password must not change.
    if text.contains(['\t', '\n', '\r']) {
        return Err("smtp.url must not contain tabs or line breaks".into());
    }
    let url = url::Url::parse(text).map_err(|e| match e {
        url::ParseError::InvalidPort => "smtp.url has a bad port (1 to 65535)".to_string(),
        url::ParseError::InvalidIpv6Address => "smtp.url: only an IPv6 address goes between '[' and ']'".into(),
        e => format!("smtp.url has a bad host ({e}): {FORMS}"),
    })?;
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "smtp.url must not have a path or query (lettre-style ?tls= options are not read): {FORMS}"
        ));
    }
    let port = port_of(&url, rest, default_port)?;
    let host = host_of(&url)?;
    let (credentials, encoded_password) = credentials_of(&url, rest)?;
    Ok(SmtpUrl { security, host, port, credentials, encoded_password })
}

/// The security a scheme asks for, and its default port.
fn security_of(scheme: &str) -> Result<(Security, u16), String> {
    Ok(match scheme.to_ascii_lowercase().as_str() {
        "smtp" => (Security::Plain, 25),
        "smtps" => (Security::Wrapper, 465),
        "smtp+starttls" => (Security::StartTls, 587),
        other => {
            let shown = if other.len() <= 20 && other.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            {
                format!(" '{other}'")
            } else {
                String::new()
            };
            return Err(format!("smtp.url has an unsupported scheme{shown}: {FORMS}"));
        }
    })
}

/// The port given, or the scheme's default; `rest` is the text after `://`.
fn port_of(url: &url::Url, rest: &str, default_port: u16) -> Result<u16, String> {
    match url.port() {
        Some(0) => Err("smtp.url has a bad port '0' (1 to 65535)".into()),
        Some(port) => Ok(port),
        // The URL standard takes `host:` as the default port; an empty port is a mistake here.
        None if rest.strip_suffix('/').unwrap_or(rest).ends_with(':') => {
            Err("smtp.url has a bad port '' (1 to 65535)".into())
        }
        None => Ok(default_port),
    }
}

fn host_of(url: &url::Url) -> Result<String, String> {
    match url.host() {
        Some(url::Host::Ipv6(address)) => Ok(address.to_string()),
        Some(url::Host::Domain(name))
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b)) =>
        {
            Ok(name.to_string())
        }
        Some(url::Host::Ipv4(address)) => Ok(address.to_string()),
        _ => Err(format!("smtp.url has a bad host '{}': {FORMS}", url.host_str().unwrap_or_default())),
    }
}

/// User and password percent-decoded, and the password as the URL holds it.
type UserInfo = (Option<(String, String)>, Option<String>);

/// The user info; none without an `@`. `rest` is the text after `://`.
fn credentials_of(url: &url::Url, rest: &str) -> Result<UserInfo, String> {
    // Paths, queries and fragments are refused before, so an '@' can only close the user info.
    match (rest.contains('@'), url.password()) {
        (false, _) => Ok((None, None)),
        (true, None) => Err("smtp.url has a user but no password (write user:password@host)".into()),
        (true, Some(password)) => {
            let user = percent_decode(url.username()).ok_or("smtp.url: the user name has a bad %-escape")?;
            let decoded = percent_decode(password).ok_or("smtp.url: the password has a bad %-escape")?;
            if user.is_empty() || decoded.is_empty() {
                return Err("smtp.url: the user name and the password must not be empty".into());
            }
            Ok((Some((user, decoded)), Some(password.to_string())))
        }
    }
}

/// `None` for a `%` not followed by two hex digits (which the URL standard
/// lets through) or for bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let well_formed =
        s.split('%').skip(1).all(|after| after.get(..2).is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())));
    let decoded = percent_encoding::percent_decode_str(s).decode_utf8().ok()?;
    well_formed.then(|| decoded.into_owned())
}
