//! Integration tests of the SuperOffice simulator over real HTTP (one test binary, several modules).

mod code_flow;
mod common;
mod faults;
mod lifecycle_page;
mod lifecycle_push;
mod lifecycle_snapshots;
mod lifecycle_support;
mod lifecycle_tenant;
mod shapes;
mod sign_in_session;
mod state_file;
mod system_user;
mod tenant;
mod token_errors;
mod user_agent;
mod webapi_inspection;
mod webapi_lists;
mod webapi_preferences;
mod webapi_support;
mod webapi_udef;
mod webapi_webhooks;
mod webapi_webpanels;
