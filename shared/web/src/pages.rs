//! The page layout and the friendly error page. Markup is built with `maud`, which escapes every
//! interpolated value.

use maud::{DOCTYPE, Markup, html};

/// The frame of every page.
pub fn layout(title: &str, body: Markup) -> Markup {
    frame(title, None, None, body)
}

/// The frame of a page that runs a script of ours (`script`, a path on this site, loaded with
/// `defer`; the page must be sent with `crate::script_page_policy`), with a class on `body`: `panel`
/// lays the page out for SuperOffice's narrow iframes.
pub fn scripted(title: &str, body_class: &str, script: &str, body: Markup) -> Markup {
    frame(title, Some(body_class), Some(script), body)
}

fn frame(title: &str, body_class: Option<&str>, script: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/app.css";
                @if let Some(src) = script {
                    script src=(src) defer {}
                }
            }
            body class=[body_class] {
                main { (body) }
            }
        }
    }
}

/// The navigation every signed-in page carries: the start page, the app's pages for
/// administrators, and sign-out (a form: signing out changes state, so it carries the session's
/// anti-forgery token).
pub fn nav(csrf: &str, administrator: bool) -> Markup {
    html! {
        nav #nav {
            a href="/" { "Start" }
            @if administrator {
                " · " a #nav-install href="/install/status" { "Install" }
                " · " a #nav-manage href="/manage" { "Manage the app" }
            }
            form.inline method="post" action="/logout" {
                input type="hidden" name="csrf" value=(csrf);
                button.link #sign-out type="submit" { "Sign out" }
            }
        }
    }
}

/// A page with the navigation above its content.
pub fn signed_in(title: &str, csrf: &str, administrator: bool, body: Markup) -> Markup {
    layout(
        title,
        html! {
            (nav(csrf, administrator))
            (body)
        },
    )
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
nav{display:flex;gap:.3rem;align-items:baseline;margin-bottom:1.5rem;font-size:.95rem}\
form.inline{display:inline;margin-left:auto}\
button.link{background:none;color:#0b6e4f;padding:0;text-decoration:underline}\
.danger,a.button.danger,button.danger{background:#b3261e}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e3e7eb}\
td.num,th.num{text-align:right}\
[hidden]{display:none!important}\
body.panel{background:#fff}\
body.panel main{margin:0;max-width:none;padding:1rem 1.2rem;box-shadow:none;border-radius:0}\
body.panel h1{font-size:1.2rem}body.panel h2{font-size:1rem;margin-top:1.4rem}\
.muted{color:#5a6b7b}\
";
