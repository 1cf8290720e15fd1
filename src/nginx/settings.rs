//! What nginx accepts, checked before anything is written: every `[nginx]` value that reaches
//! a directive (`listen`, `server_name`, paths, the instance name), and that the configuration
//! serves the base URL (https needs a certificate; the base URL's port must be listened on).

use super::*;

/// The error for a `[nginx]` setting nginx would refuse.
fn nginx_error(setting: &'static str, message: impl Into<String>) -> Error {
    Error::Nginx {
        setting,
        message: message.into(),
    }
}

/// Quotes a setting's path for nginx: absolute, a file name at its end, nothing nginx interprets.
pub(crate) fn quote_setting_path(setting: &'static str, path: &Path) -> Result<String> {
    if !path.is_absolute() {
        return Err(nginx_error(
            setting,
            format!(
                "nginx.{setting} {:?} must be an absolute path: nginx would read a relative one from \
             its own prefix directory",
                path.display().to_string()
            ),
        ));
    }
    if path.as_os_str().to_string_lossy().ends_with('/') || path.file_name().is_none() {
        return Err(nginx_error(
            setting,
            format!(
                "nginx.{setting} {:?} names a directory; give a file, such as \
             \"/var/log/pxtrack/access.log\"",
                path.display().to_string()
            ),
        ));
    }
    quote_path(path).map_err(|e| nginx_error(setting, format!("nginx.{setting}: {e}")))
}

/// Checks `[nginx] instance`: a name nginx can use in variable and format names.
pub fn check_instance(name: &str) -> Result<()> {
    let ok = (1..=MAX_INSTANCE_CHARS).contains(&name.len())
        && name.as_bytes()[0].is_ascii_lowercase()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(nginx_error(
            "instance",
            format!(
                "nginx.instance {name:?} must be 1 to {MAX_INSTANCE_CHARS} lower-case letters, digits \
             or '_', starting with a letter (it names nginx variables, such as $pxtrack_click_key)"
            ),
        ))
    }
}

/// The parameters pxtrack accepts after the address in a `listen` value.
pub(crate) const LISTEN_PARAMS: [&str; 5] = [
    "default_server",
    "reuseport",
    "deferred",
    "bind",
    "ipv6only=",
];

/// The port a `listen` value listens on, after checking that nginx accepts it: `80`,
/// `127.0.0.1:8080`, `[::]:443` or `host:port`, then any of [`LISTEN_PARAMS`].
pub(crate) fn listen_port(setting: &'static str, value: &str) -> Result<u16> {
    let bad = |why: &str| {
        Err(nginx_error(
            setting,
            format!(
                "nginx.{setting} value {value:?} {why}; write a port (\"80\"), an address and port \
             (\"127.0.0.1:8080\", \"[::]:443\"), optionally followed by {}",
                LISTEN_PARAMS
                    .iter()
                    .map(|p| if p.ends_with('=') {
                        format!("{p}on|off")
                    } else {
                        p.to_string()
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    };
    let mut words = value.split_ascii_whitespace();
    let Some(addr) = words.next() else {
        return bad("is empty");
    };
    for w in words {
        let known = LISTEN_PARAMS.iter().any(|p| match p.strip_suffix('=') {
            Some(name) => w
                .strip_prefix(name)
                .and_then(|r| r.strip_prefix('='))
                .is_some_and(|v| matches!(v, "on" | "off")),
            None => w == *p,
        });
        if matches!(w, "ssl" | "http2") {
            return bad(&format!(
                "has {w:?}: pxtrack adds ssl and http2 itself, to the nginx.tls_listen values"
            ));
        }
        if !known {
            return bad(&format!("has {w:?}, which pxtrack does not write"));
        }
    }
    let port_text = if let Some(v6) = addr.strip_prefix('[') {
        let Some((ip, rest)) = v6.split_once(']') else {
            return bad("has an unclosed '['");
        };
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return bad("has an IPv6 address nginx would not accept");
        }
        match rest.strip_prefix(':') {
            Some(p) => p,
            None if rest.is_empty() => "80",
            None => return bad("has text after the IPv6 address"),
        }
    } else if addr.bytes().all(|b| b.is_ascii_digit()) {
        addr
    } else {
        let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "80"));
        let host_ok = host == "*"
            || (!host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')));
        if !host_ok {
            return bad("has an address nginx would not accept");
        }
        port
    };
    match port_text.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => bad("has no port between 1 and 65535"),
    }
}

/// Checks `server_name`: names, `*.example.com`, `example.*`, `.example.com`, `_` or addresses.
/// Regular expressions and a bare `*` are refused (nginx refuses the latter).
pub(crate) fn check_server_name(value: &str) -> Result<()> {
    let bad = |name: &str, why: &str| {
        Err(nginx_error(
            "server_name",
            format!(
                "nginx.server_name {name:?} {why}; write host names separated by spaces (such as \
             \"t.example.com\"), \"*.example.com\", or \"_\" for any host"
            ),
        ))
    };
    let mut any = false;
    for name in value.split_ascii_whitespace() {
        any = true;
        if name == "_" {
            continue;
        }
        if name == "*" {
            return bad(name, "is not a name nginx accepts");
        }
        let core = name
            .strip_prefix("*.")
            .or_else(|| name.strip_suffix(".*"))
            .or_else(|| name.strip_prefix('.'))
            .unwrap_or(name);
        let v6 = core
            .strip_prefix('[')
            .and_then(|c| c.strip_suffix(']'))
            .is_some_and(|c| c.parse::<std::net::Ipv6Addr>().is_ok());
        let host = !core.is_empty()
            && !core.starts_with(['.', '-'])
            && !core.ends_with(['.', '-'])
            && !core.contains("..")
            && core
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !(v6 || host) {
            return bad(name, "is not a host name");
        }
    }
    if !any {
        return bad(value, "is empty");
    }
    Ok(())
}

/// The scheme-and-host part of the base URL (`https://t.example.com:8443`), for redirects.
pub(crate) fn origin(config: &Config) -> &str {
    let b = &config.base_url;
    &b.url[..b.url.len() - b.path_prefix.len()]
}

/// The base URL's port, explicit or the scheme's default.
pub(crate) fn base_port(config: &Config) -> u16 {
    let https = config.base_url.url.starts_with("https://");
    let default = if https { 443 } else { 80 };
    let host_port = origin(config).split_once("://").map_or("", |(_, h)| h);
    let after_host = match host_port.rsplit_once(']') {
        Some((_, rest)) => rest,
        None => host_port,
    };
    after_host
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(default)
}

/// Checks that nginx, as configured, serves the base URL and accepts every value pxtrack writes.
/// Returns whether TLS is configured.
pub fn check_settings(config: &Config) -> Result<bool> {
    let n: &NginxSettings = &config.nginx;
    check_instance(&n.instance)?;
    check_server_name(&n.server_name)?;
    if n.listen.is_empty() {
        return Err(nginx_error(
            "listen",
            "nginx.listen is empty: nginx needs a plain-HTTP port, at least to answer certbot \
             (such as [\"80\", \"[::]:80\"])",
        ));
    }
    let plain: Vec<u16> = n
        .listen
        .iter()
        .map(|l| listen_port("listen", l))
        .collect::<Result<_>>()?;
    let tls = n.tls_certificate.is_some();
    let tls_ports: Vec<u16> = if tls {
        if n.tls_listen.is_empty() {
            return Err(nginx_error(
                "tls_listen",
                "nginx.tls_listen is empty while a certificate is set; such as [\"443\", \
                 \"[::]:443\"]",
            ));
        }
        n.tls_listen
            .iter()
            .map(|l| listen_port("tls_listen", l))
            .collect::<Result<_>>()?
    } else {
        Vec::new()
    };
    if let Some(clash) = tls_ports.iter().find(|p| plain.contains(p)) {
        return Err(nginx_error(
            "tls_listen",
            format!(
                "port {clash} is in both nginx.listen and nginx.tls_listen; one port speaks either \
             plain HTTP or TLS"
            ),
        ));
    }
    quote_setting_path("access_log", &n.access_log)?;
    for (setting, path) in [
        ("tls_certificate", &n.tls_certificate),
        ("tls_certificate_key", &n.tls_certificate_key),
    ] {
        if let Some(p) = path {
            quote_setting_path(setting, p)?;
        }
    }
    if let Some(root) = &n.acme_webroot {
        if !root.is_absolute() {
            return Err(nginx_error(
                "acme_webroot",
                format!(
                    "nginx.acme_webroot {:?} must be an absolute path",
                    root.display().to_string()
                ),
            ));
        }
        quote_path(root)
            .map_err(|e| nginx_error("acme_webroot", format!("nginx.acme_webroot: {e}")))?;
    }
    let https = config.base_url.url.starts_with("https://");
    let port = base_port(config);
    if n.behind_proxy {
        return Ok(tls);
    }
    if https && !tls {
        let (cert, key) = crate::config::certbot_paths(&config.base_url.host);
        return Err(nginx_error(
            "tls_certificate",
            format!(
                "the base URL {} is https, but [nginx] has no tls_certificate, so nginx would not \
             serve the URLs you mint. Add, under [nginx]:\n  tls_certificate = \"{}\"\n  \
             tls_certificate_key = \"{}\"\n  acme_webroot = \"{}\"\n(certbot's paths; until \
             certbot has run, `pxtrack nginx` writes the port-80 server that answers it), or \
             behind_proxy = true if a proxy or CDN in front of nginx terminates TLS",
                config.base_url.url,
                cert.display(),
                key.display(),
                crate::config::DEFAULT_ACME_WEBROOT
            ),
        ));
    }
    if !https && tls {
        return Err(nginx_error(
            "tls_certificate",
            format!(
                "the base URL {} is http, but a certificate is set: nginx would redirect the minted \
             http URLs to https. Use an https base URL (tokens minted so far keep working only \
             under their own URL), or remove tls_certificate",
                config.base_url.url
            ),
        ));
    }
    let (ports, setting) = if https {
        (&tls_ports, "tls_listen")
    } else {
        (&plain, "listen")
    };
    if !ports.contains(&port) {
        return Err(nginx_error(
            setting,
            format!(
                "the base URL {} is on port {port}, but nginx.{setting} listens on {}: nginx would \
             not serve the URLs you mint. Add \"{port}\" to nginx.{setting} (or --{} on the \
             command line), or set behind_proxy = true if a proxy forwards to nginx",
                config.base_url.url,
                ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                setting.replace('_', "-"),
            ),
        ));
    }
    Ok(tls)
}

#[cfg(test)]
mod tests {
    use super::super::tests::config;
    use super::*;

    #[test]
    fn settings_nginx_would_refuse_are_refused() {
        let ok = config("http://127.0.0.1:8080/t");
        assert!(!check_settings(&ok).unwrap(), "no TLS for an http base URL");
        let refused = |edit: &dyn Fn(&mut Config), expect: &str| {
            let mut c = ok.clone();
            edit(&mut c);
            let e = check_settings(&c).unwrap_err().to_string();
            assert!(e.contains(expect), "{expect:?} in {e}");
        };
        refused(
            &|c| c.nginx.server_name = "*".into(),
            "not a name nginx accepts",
        );
        refused(&|c| c.nginx.server_name = "a..b".into(), "not a host name");
        refused(&|c| c.nginx.server_name = "~^x$".into(), "not a host name");
        refused(
            &|c| c.nginx.listen = vec!["80 ssl".into()],
            "pxtrack adds ssl",
        );
        refused(
            &|c| c.nginx.listen = vec!["127.0.0.1:99999".into()],
            "no port",
        );
        refused(
            &|c| c.nginx.listen = vec!["80; include x".into()],
            "has \"include\"",
        );
        refused(
            &|c| c.nginx.listen = vec!["127.0.0.1:9090".into()],
            "is on port 8080",
        );
        refused(&|c| c.nginx.listen = vec![], "nginx.listen is empty");
        refused(&|c| c.nginx.instance = "Px".into(), "nginx.instance");
        refused(
            &|c| c.nginx.access_log = "rel.log".into(),
            "must be an absolute path",
        );
        refused(
            &|c| c.nginx.access_log = "/var/log/px/".into(),
            "names a directory",
        );
        for good in [
            "_",
            "t.example.com *.example.com",
            ".example.com",
            "example.*",
            "[::1]",
        ] {
            let mut c = ok.clone();
            c.nginx.server_name = good.into();
            assert!(check_settings(&c).is_ok(), "{good}");
        }
        for good in [
            "8080",
            "127.0.0.1:8080 default_server",
            "[::]:8080 ipv6only=on",
            "*:8080",
        ] {
            let mut c = ok.clone();
            c.nginx.listen = vec![good.into()];
            assert!(check_settings(&c).is_ok(), "{good}");
        }
        let mut https = config("https://t.example.com");
        assert!(
            check_settings(&https).unwrap(),
            "init's https config has TLS"
        );
        https.nginx.tls_listen = vec!["8443".into()];
        let e = check_settings(&https).unwrap_err().to_string();
        assert!(
            e.contains("is on port 443, but nginx.tls_listen listens on 8443"),
            "{e}"
        );
        https.nginx.tls_certificate = None;
        let e = check_settings(&https).unwrap_err().to_string();
        assert!(e.contains("has no tls_certificate"), "{e}");
        https.nginx.behind_proxy = true;
        assert!(!check_settings(&https).unwrap(), "a proxy terminates TLS");
        let mut http = ok.clone();
        http.nginx.tls_certificate = Some("/c.pem".into());
        http.nginx.tls_certificate_key = Some("/k.pem".into());
        let e = check_settings(&http).unwrap_err().to_string();
        assert!(e.contains("is http, but a certificate is set"), "{e}");
    }
}
