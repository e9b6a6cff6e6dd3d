//! The page layout and the friendly error page. Markup is built with `maud`, which escapes every
//! interpolated value.

use maud::{DOCTYPE, Markup, html};

/// The frame of every page.
pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/app.css";
            }
            body {
                main { (body) }
            }
        }
    }
}

/// An error page a person can act on: what happened in plain words, what to do, and a reference
/// (reason code and request id) for support. Never internals.
pub fn error(
    title: &str,
    message: &str,
    code: &str,
    request_id: &str,
    retry: Option<(&str, &str)>,
) -> Markup {
    layout(
        title,
        html! {
            h1 { (title) }
            p { (message) }
            @if let Some((href, label)) = retry {
                p { a.button href=(href) { (label) } }
            }
            p.reference { "Reference: " code { (code) } " · request " code { (request_id) } }
        },
    )
}

/// The site's stylesheet (served at `/app.css`; `style-src 'self'`).
pub const STYLESHEET: &str = "\
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f6f8;color:#1d2933}\
main{max-width:42rem;margin:3rem auto;background:#fff;padding:2rem 2.5rem;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12)}\
h1{font-size:1.5rem;margin-top:0}\
dl{display:grid;grid-template-columns:max-content auto;gap:.4rem 1.2rem}dt{color:#5a6b7b}dd{margin:0}\
a.button,button{display:inline-block;background:#0b6e4f;color:#fff;border:0;border-radius:4px;padding:.6rem 1.1rem;font-size:1rem;text-decoration:none;cursor:pointer}\
button.secondary{background:#5a6b7b}\
.reference{color:#5a6b7b;font-size:.85rem;margin-top:2rem}\
.notice{background:#fff6e0;border-left:4px solid #e0a800;padding:.6rem 1rem}\
";
