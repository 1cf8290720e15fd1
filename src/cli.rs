//! The command-line interface, declared once with clap's derive API. Flag and subcommand names
//! are a contract with users' scripts: add, never rename.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Email open and click tracking with signed URLs, a stock nginx and batch log analysis.
///
/// pxtrack works in three steps, none of which needs a server of its own or a database:
///
///   1. `pxtrack mint` creates signed pixel URLs (opens) and tracked links (clicks) and appends
///      them to a CSV manifest.
///
///   2. `pxtrack nginx` writes the configuration that serves them with Debian's stock nginx.
///
///   3. `pxtrack analyze` reads nginx's access logs and builds a static HTML report.
///
/// Opens are a directional signal, not proof of reading: mail providers' image proxies and
/// security scanners load pixels and follow links too. pxtrack labels that traffic instead of
/// hiding it.
#[derive(Debug, Parser)]
#[command(name = "pxtrack", version, max_term_width = 100)]
#[command(after_help = "\
Examples:
  pxtrack init --dir ~/pxtrack --base-url https://t.example.com
  export PXTRACK_CONFIG=~/pxtrack/pxtrack.toml
  pxtrack mint open --campaign launch --recipient ana@example.com --html
  pxtrack mint click --campaign launch --recipient ana@example.com https://example.com/
  pxtrack nginx --out /etc/pxtrack/nginx
  pxtrack analyze /var/log/nginx/ --out report
  pxtrack analyze --demo          # the bundled sample logs

Exit status: 0 done; 1 done, but some input was missing or not a log; 2 error, nothing written.")]
pub struct Cli {
    /// The config file [default: $PXTRACK_CONFIG, else ./pxtrack.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a config, a new secret key and an empty manifest.
    ///
    /// Writes DIR/pxtrack.toml, DIR/pxtrack.key (32 random bytes, mode 0600, with a key id so the
    /// key can be rotated later) and DIR/manifest.csv. Refuses to overwrite an existing key.
    #[command(
        after_help = "Example:\n  pxtrack init --dir ~/pxtrack --base-url https://t.example.com"
    )]
    Init(InitArgs),

    /// Mint signed pixel URLs (opens) and tracked links (clicks).
    ///
    /// Each token is appended to the manifest as one row and the URL is printed on stdout, one per
    /// line. No campaign, recipient or address goes into a URL.
    #[command(subcommand)]
    Mint(MintCommand),

    /// Make tracked copies of an HTML email, one per recipient.
    ///
    /// Every `<a href>` and `<area href>` to an absolute http(s) URL goes through a click token
    /// (its target is the URL as a browser would open it, entities decoded), a pixel goes in, and
    /// every other byte comes out as it went in. Left alone: mailto:, tel: and other schemes,
    /// fragments and relative URLs, links in <head> or in Outlook's conditional comments, hrefs
    /// with another tool's template syntax, links marked data-pxtrack="off" (or an ESP's
    /// clicktracking=off), unsubscribe links, and `[rewrite] skip` URLs. `{{column}}`
    /// placeholders are filled from the recipient list. Writes OUT/NNNN-RECIPIENT.html and
    /// OUT/messages.csv, and the tokens to the manifest.
    #[command(after_help = "Examples:\n  \
                            pxtrack rewrite newsletter.html --campaign autumn --recipients list.csv \
                            --out outbox --dry-run\n  \
                            pxtrack rewrite newsletter.html --campaign autumn --recipients list.csv \
                            --out outbox\n  \
                            pxtrack nginx --out /etc/pxtrack/nginx && sudo systemctl reload nginx")]
    Rewrite(RewriteArgs),

    /// Record when prepared messages were sent (in sends.csv).
    ///
    /// Stamps the messages of a campaign (or of one recipient) that have no send time yet. The
    /// send snapshot says what went out, to whom, from which template and when.
    #[command(after_help = "Examples:\n  pxtrack sent --campaign autumn\n  \
                            pxtrack sent --campaign autumn --recipient ana@example.org --at \
                            2026-12-01T09:00:00Z")]
    Sent(SentArgs),

    /// Write the nginx configuration that serves pixels and redirects.
    ///
    /// Writes OUT/pxtrack.conf (include it in nginx's http block), OUT/locations.conf,
    /// OUT/opens.map and OUT/clicks.map (every live token of the manifest), OUT/pixel.png and
    /// OUT/logrotate.conf (install it as /etc/logrotate.d/pxtrack), then prints the include line.
    /// nginx serves exactly what was minted: run it again and reload nginx after minting, and as
    /// tokens expire (a cron line does both; see the README).
    ///
    /// Before replacing OUT, the result is checked by `nginx -t` on a scratch configuration when
    /// nginx is installed here; OUT is left as it was if nginx refuses it. With a certificate
    /// configured but not there yet (before certbot has run), only the port-80 server that
    /// answers certbot is written.
    #[command(after_help = "Examples:\n  \
                            pxtrack nginx --out /etc/pxtrack/nginx\n  \
                            sudo nginx -t && sudo systemctl reload nginx\n\n  \
                            # on a laptop, for a server that reads /etc/pxtrack/nginx:\n  \
                            pxtrack nginx --out gen --server-dir /etc/pxtrack/nginx --no-check\n  \
                            rsync -a --delete gen/ vps:/etc/pxtrack/nginx/\n\n\
                            Exit status: 0 written; 1 written, but some manifest rows could not \
                            be served (listed); 2 error, nothing written.")]
    Nginx(NginxArgs),

    /// Analyze access logs and write the report site.
    ///
    /// Reads the given log files and directories (rotated and gzipped logs too; with no path, the
    /// logs named in the config), in pxtrack's log format or nginx's `combined`, detected per
    /// line. Writes OUT/index.html, a page per campaign and OUT/events.csv, then prints a summary.
    /// Lines that are not access-log lines are counted by reason and shown in the report.
    #[command(after_help = "Examples:\n  pxtrack analyze --out report\n  \
                            pxtrack analyze /var/log/nginx/ --out report\n  \
                            ssh vps cat /var/log/pxtrack/access.log | pxtrack analyze -\n  \
                            pxtrack analyze --demo      # the bundled sample; report in \
                            ./pxtrack-report/\n\n\
                            Exit status (for cron and scripts):\n  \
                            0  done\n  \
                            1  done, but some input was missing, unreadable or not a log; the \
                            report says which at its top\n  \
                            2  error, nothing written (the previous report is left as it was)")]
    Analyze(AnalyzeArgs),

    /// Print the classification rules in force, in the order they are checked.
    ///
    /// The built-in rules (user agents, networks, autonomous systems, timing windows) come from a
    /// data file embedded in pxtrack; `[classify] rules = "FILE"` in the config adds rules checked
    /// before them, and `[classify] apple_relay_egress = "FILE"` loads Apple's Private Relay
    /// egress list.
    ///
    /// The networks providers publish (Microsoft's Exchange Online Protection, Google's
    /// crawlers and fetchers, Barracuda, Amazon's EC2, Google Cloud) are lists with a date: this
    /// command shows each list's date and warns when the one in force is over a year old.
    /// Refresh one by downloading the provider's file as it is and naming it in the config:
    /// `[classify.lists]` then `microsoft-eop = "endpoints.json"`, `aws = "ip-ranges.json"`...
    Rules,
}

/// `pxtrack init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the files.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    /// The public base of tracking URLs, such as https://t.example.com.
    #[arg(long, value_name = "URL")]
    pub base_url: String,
}

/// `pxtrack mint`.
#[derive(Debug, Subcommand)]
pub enum MintCommand {
    /// Mint pixel URLs: https://BASE/o/<token>.png
    #[command(after_help = "Examples:\n  \
        pxtrack mint open --campaign launch --recipient ana@example.com\n  \
        pxtrack mint open --campaign launch --recipients list.csv --html --expires 90d")]
    Open {
        /// What to mint for.
        #[command(flatten)]
        common: MintArgs,

        /// Print a ready <img> tag instead of the bare URL (the same as --format html).
        #[arg(long, conflicts_with = "format")]
        html: bool,
    },

    /// Mint tracked links: https://BASE/c/<token> redirects to TARGET_URL.
    #[command(after_help = "Example:\n  \
        pxtrack mint click --campaign launch --recipient ana@example.com --label pricing \\\n    \
        https://example.com/pricing")]
    Click {
        /// What to mint for.
        #[command(flatten)]
        common: MintArgs,

        /// Where the link goes: an absolute http(s) URL without spaces or control characters.
        #[arg(value_name = "TARGET_URL")]
        target: String,
    },
}

/// Options shared by `mint open` and `mint click`.
#[derive(Debug, Args)]
pub struct MintArgs {
    /// Campaign name (shown in the report; never in a URL).
    #[arg(long, value_name = "C")]
    pub campaign: String,

    /// One recipient, usually an address (kept in the manifest only).
    #[arg(
        long,
        value_name = "R",
        required_unless_present = "recipients",
        conflicts_with = "recipients"
    )]
    pub recipient: Option<String>,

    /// A file of recipients: one address a line, or a CSV (a spreadsheet's export) whose header
    /// names a `recipient`, `email` or `e-mail` column. One token each, printed in the file's
    /// order; the same address twice is minted once.
    #[arg(long, value_name = "FILE")]
    pub recipients: Option<PathBuf>,

    /// A free label, such as the link's name.
    #[arg(long, value_name = "L", default_value = "")]
    pub label: String,

    /// Make the token expire after this long, with a unit: 90d, 12h, 30m, 45s (or 2w). After
    /// that, a link no longer redirects (nginx answers 404) and a pixel counts as invalid.
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,

    /// What to print: `url` (one a line), `csv` (a `recipient,url` header and a row each, for a
    /// mail merge to join on the recipient) or `html` (an <img> tag, or an <a> link).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "url")]
    pub format: MintFormat,
}

/// What `mint` prints for each token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MintFormat {
    /// The bare URL, one a line.
    Url,
    /// `recipient,url` rows under a header.
    Csv,
    /// A ready HTML tag.
    Html,
}

/// `pxtrack rewrite`.
#[derive(Debug, Args)]
pub struct RewriteArgs {
    /// The email body: an HTML file (.html, .htm).
    #[arg(value_name = "TEMPLATE")]
    pub template: PathBuf,

    /// What to mint for (campaign, recipients, expiry; --label and --format do not apply).
    #[command(flatten)]
    pub common: MintArgs,

    /// Directory for the copies and messages.csv (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Mint nothing, write nothing: print what would be tracked and what left alone, and why.
    #[arg(long)]
    pub dry_run: bool,

    /// Leave `{{...}}` placeholders as they are (templates that carry another tool's syntax).
    #[arg(long)]
    pub no_merge: bool,

    /// Track the URLs written out in a message's text/plain parts too (labelled "text link"),
    /// with the same rules as HTML links.
    #[arg(long)]
    pub text_links: bool,

    /// Where the pixel goes: bottom (before </body>), top (first in <body>: loaded even when
    /// Gmail clips a long message) or both.
    #[arg(long, value_enum, default_value = "bottom")]
    pub pixel: PixelArg,

    /// When the messages are sent, if you know it now (RFC 3339, such as
    /// 2026-12-01T09:00:00Z, or `now`); otherwise stamp them later with `pxtrack sent`.
    #[arg(long, value_name = "TIME")]
    pub sent_at: Option<String>,
}

/// `pxtrack sent`.
#[derive(Debug, Args)]
pub struct SentArgs {
    /// The campaign whose messages were sent.
    #[arg(long, value_name = "C")]
    pub campaign: String,

    /// Only this recipient's message.
    #[arg(long, value_name = "R")]
    pub recipient: Option<String>,

    /// When (RFC 3339, such as 2026-12-01T09:00:00Z) [default: now].
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

/// `--pixel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PixelArg {
    /// First thing in <body>.
    Top,
    /// Just before </body>.
    Bottom,
    /// Both.
    Both,
}

/// `pxtrack nginx`.
#[derive(Debug, Args)]
pub struct NginxArgs {
    /// Directory to write the files into, replaced as a whole (it must be new, empty or written
    /// by `pxtrack nginx`).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// The directory on the server where OUT will be copied: the files refer to PATH instead of
    /// OUT (mint on a laptop, serve from a VPS). An absolute path.
    #[arg(long, value_name = "PATH")]
    pub server_dir: Option<PathBuf>,

    /// Override the config's plain-HTTP `listen` values (repeatable), such as 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<String>,

    /// Override the config's TLS `listen` values (repeatable), such as 127.0.0.1:8443.
    #[arg(long, value_name = "ADDR")]
    pub tls_listen: Vec<String>,

    /// Override the config's access-log path.
    #[arg(long, value_name = "PATH")]
    pub access_log: Option<PathBuf>,

    /// Write only the port-80 server that answers certbot's challenge, as when the certificate
    /// files do not exist yet (with --server-dir they cannot be seen from here).
    #[arg(long)]
    pub acme_only: bool,

    /// Do not run `nginx -t` on the result (where nginx is not installed, such as a laptop
    /// that generates for a server).
    #[arg(long)]
    pub no_check: bool,
}

/// `pxtrack analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Log files or directories; `-` is standard input (plain or gzip) [default: the config's
    /// analyze.logs]. Each file is read once, however many paths reach it.
    #[arg(value_name = "LOG_FILE_OR_DIR")]
    pub paths: Vec<PathBuf>,

    /// Directory for the report site; replaced as a whole, so it must be new, empty or a
    /// previous report (never `.`, `/` or your home directory).
    #[arg(long, value_name = "DIR", default_value = "pxtrack-report")]
    pub out: PathBuf,

    /// Analyze the bundled sample logs (sample-logs/, carried inside the binary) with their demo
    /// config.
    #[arg(long)]
    pub demo: bool,

    /// A directory of templates overriding the embedded ones (same file names).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,

    /// The per-event export: csv (events.csv), parquet (events.parquet: typed columns for
    /// DuckDB, ClickHouse, Polars, Spark) or none [default: the config's analyze.events, else
    /// csv]. Every other output is the same whichever is chosen.
    #[arg(long, value_name = "FORMAT", value_parser = parse_events)]
    pub events: Option<pxtrack::report::EventsFormat>,

    /// The time zone the pages show times in, an IANA name such as Europe/Paris [default: the
    /// config's report.timezone, else UTC]. Exports stay in UTC.
    #[arg(long, value_name = "ZONE", value_parser = parse_zone)]
    pub timezone: Option<pxtrack::time::Zone>,

    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_events(name: &str) -> Result<pxtrack::report::EventsFormat, String> {
    name.parse()
}

fn parse_zone(name: &str) -> Result<pxtrack::time::Zone, String> {
    name.parse()
}
