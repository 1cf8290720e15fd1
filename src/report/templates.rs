//! The report's templates: embedded with `include_str!` so the binary runs from anywhere, each
//! replaceable by a same-named file in `--templates DIR`.

use super::*;

/// The embedded default templates, by name.
pub const TEMPLATES: [(&str, &str); 8] = [
    ("base.html", include_str!("../../templates/base.html")),
    ("macros.html", include_str!("../../templates/macros.html")),
    (
        "recipients.html",
        include_str!("../../templates/recipients.html"),
    ),
    ("index.html", include_str!("../../templates/index.html")),
    (
        "campaign.html",
        include_str!("../../templates/campaign.html"),
    ),
    ("hits.html", include_str!("../../templates/hits.html")),
    (
        "rejected.html",
        include_str!("../../templates/rejected.html"),
    ),
    ("about.html", include_str!("../../templates/about.html")),
];

/// Static files written beside the pages: one stylesheet and one small script for every page,
/// instead of a copy in each (a site of 100,000 pages would otherwise repeat them 100,000 times).
pub const ASSETS: [(&str, &str); 2] = [
    ("pxtrack.css", include_str!("../../templates/pxtrack.css")),
    ("pxtrack.js", include_str!("../../templates/pxtrack.js")),
];

/// Loads the templates: the embedded defaults, each replaced by a same-named file in
/// `override_dir` when one is given and exists.
pub fn templates(override_dir: Option<&Path>) -> Result<tera::Tera> {
    let mut loaded: Vec<(String, String)> = Vec::new();
    let mut replaced: Vec<&str> = Vec::new();
    for (name, text) in TEMPLATES {
        let custom = override_dir.map(|d| d.join(name)).filter(|p| p.is_file());
        let text = match custom {
            Some(p) => {
                replaced.push(name);
                fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?
            }
            None => text.to_string(),
        };
        loaded.push((name.to_string(), text));
    }
    // The recipients pages' sections are written in Rust when both templates that make them
    // are the embedded ones (sections.rs).
    if !replaced.contains(&"recipients.html")
        && !replaced.contains(&"macros.html")
        && let Some(fast) = (loaded.iter())
            .find(|(name, _)| name == "recipients.html")
            .and_then(|(_, text)| sections::fast_recipients_template(text))
    {
        loaded.push((sections::FAST_RECIPIENTS.to_string(), fast));
    }
    let mut tera = tera::Tera::default();
    tera.add_raw_templates(loaded)
        .map_err(|e| template_error("(loading)", &e))?;
    Ok(tera)
}

pub(crate) fn template_error(name: &str, e: &tera::Error) -> Error {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Error::Template {
        template: name.to_string(),
        message,
    }
}

/// What every page knows beside its view.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Globals {
    /// The zone the page's times are in (`timezone`: every page states it).
    pub(crate) zone: crate::time::Zone,
    /// The per-event export's file name (`events_file`), when there is one.
    pub(crate) events_file: Option<&'static str>,
}

/// Renders template `name` with `view` and the [`Globals`].
pub(crate) fn render(
    tera: &tera::Tera,
    name: &str,
    view: &impl Serialize,
    globals: Globals,
) -> Result<String> {
    let mut ctx = tera::Context::from_serialize(view).map_err(|e| template_error(name, &e))?;
    ctx.insert("timezone", globals.zone.name());
    ctx.insert("events_file", &globals.events_file);
    tera.render(name, &ctx)
        .map_err(|e| template_error(name, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_templates_compile() {
        templates(None).unwrap();
    }
}
