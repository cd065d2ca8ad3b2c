//! Every page of every role, in both languages: its `<title>` is text (no markup, no CSS,
//! no template syntax), and a page that does not exist says so in the chosen language.

use super::app::spawn_app;
use cordon_domain::role::Role;
use cordon_web::routes::{Verb, registry};
use reqwest::StatusCode;

fn title(html: &str) -> Option<&str> {
    let start = html.find("<title>")? + "<title>".len();
    let end = html[start..].find("</title>")? + start;
    Some(&html[start..end])
}

#[tokio::test]
async fn page_titles_are_plain_text_and_404_speaks_the_language() {
    let app = spawn_app().await;
    let pages: Vec<String> = registry()
        .into_iter()
        .filter(|r| r.verb == Verb::Get)
        .map(|r| r.path.to_string())
        .filter(|p| !p.starts_with("/api/") && !p.starts_with("/static") && !p.contains('{'))
        .filter(|p| !["/logout", "/export"].contains(&p.as_str()) && !p.ends_with(".xlsx") && !p.contains("export"))
        .chain([format!("/buildings/{}", app.building)])
        .collect();
    let mut seen = 0;
    for role in Role::ALL {
        for lang in ["zh", "en"] {
            for path in &pages {
                let resp = app.get(role, path).header("cookie", format!("lang={lang}")).send().await.unwrap();
                let html = resp
                    .headers()
                    .get("content-type")
                    .is_some_and(|c| c.to_str().unwrap_or("").starts_with("text/html"));
                if !html {
                    continue;
                }
                let body = resp.text().await.unwrap();
                let Some(t) = title(&body) else { continue };
                seen += 1;
                assert!(!t.contains(['<', '>', '{', '}']), "{role:?} {lang} {path}: title {t:?}");
            }
        }
        let resp = app.get(role, "/no-such-page").header("cookie", "lang=en").send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let body = resp.text().await.unwrap();
        assert!(body.contains("no such page") && title(&body).is_some_and(|t| t.starts_with("Something went wrong")));
        let resp = app.get(role, "/no-such-page").send().await.unwrap();
        assert!(resp.text().await.unwrap().contains("页面不存在"));
    }
    assert!(seen > 50, "pages were checked: {seen}");
}

/// The lab page's words: the receive button says 接收, the result options are words of
/// the chosen language, and a mistyped result stays on the lab page as a result's error,
/// never "the file has errors".
#[tokio::test]
async fn lab_words() {
    let app = spawn_app().await;
    let zh = app.get(Role::LabTech, "/testing/lab").send().await.unwrap().text().await.unwrap();
    assert!(zh.contains(">接收</button>"), "the receive button says 接收");
    assert!(zh.contains(">阴性</option>") && !zh.contains("negative</option>"));
    let en =
        app.get(Role::LabTech, "/testing/lab").header("cookie", "lang=en").send().await.unwrap().text().await.unwrap();
    assert!(en.contains(">Receive</button>") && en.contains(">Negative</option>") && !en.contains("阴性"));
    // The received tubes still awaiting a result are listed, each by barcode.
    let awaiting = app.store.tubes_awaiting_results(200).await.unwrap();
    assert!(zh.contains("data-testid=\"awaiting-results\""));
    assert_eq!(zh.matches("data-testid=\"awaiting-tube\"").count(), awaiting.len());
    for t in &awaiting {
        assert!(zh.contains(t.barcode.as_str()));
    }

    let typed = |tube: &str| {
        app.post(Role::LabTech, "/testing/lab/result")
            .form(&[("tube", tube), ("result", "negative"), ("ct", "")])
            .send()
    };
    let resp = typed("not-a-tube").await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = resp.text().await.unwrap();
    assert!(body.contains("data-testid=\"lab-error\"") && body.contains("试管条码格式不正确"), "on the lab page");
    assert!(!body.contains("文件有错误"));
    // A well-formed barcode of no tube: refused by the store, reported as this result's.
    let resp = typed("ZZ9999999999").await.unwrap();
    let body = resp.text().await.unwrap();
    assert!(!body.contains("文件有错误"), "a typed result is not a file");
    assert!(body.contains("data-testid=\"lab-error\"") || body.contains("该结果未录入"));
}

/// A pass's holder is picked by ID number or name within the issuer's scope, not by an
/// internal resident number.
#[tokio::test]
async fn pass_holder_by_id_number_or_name() {
    let app = spawn_app().await;
    let r = app.resident_in(&app.building).await;
    let community = cordon_domain::area::AreaCode::parse(&app.building.as_str()[..12]).unwrap();
    let issue = |holder_q: String| {
        let scope = community.as_str().to_string();
        app.post(Role::CommunityWorker, "/passes")
            .form(&[
                ("holder_kind", "person".to_string()),
                ("holder_q", holder_q),
                ("purpose", "医护人员".into()),
                ("scope", scope),
            ])
            .send()
    };
    let resp = issue(r.id_number.as_str().to_string()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{}", resp.text().await.unwrap());
    let passes = app.store.passes(100).await.unwrap();
    assert!(passes.iter().any(|p| p.holder == cordon_domain::pass::Holder::Person(r.id)));

    let body = issue("".into()).await.unwrap().text().await.unwrap();
    assert!(body.contains("holder_missing"), "{body}");
    let other = app.resident_in(&app.other_building).await;
    let body = issue(other.id_number.as_str().to_string()).await.unwrap().text().await.unwrap();
    assert!(body.contains("holder_not_found"), "outside the scope: {body}");
    // A surname shared by several people of the community is ambiguous.
    let people = app.store.residents_under(std::slice::from_ref(&community)).await.unwrap();
    let mut by_surname: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for p in people.iter().filter(|p| p.status == cordon_domain::registry::ResidentStatus::Active) {
        *by_surname.entry(p.name.as_str().chars().take(1).collect()).or_default() += 1;
    }
    let shared = by_surname.into_iter().find(|(_, n)| *n >= 2).unwrap().0;
    let body = issue(shared).await.unwrap().text().await.unwrap();
    assert!(body.contains("holder_ambiguous"), "{body}");
}

/// The policy switch first shows what it changes, in words, and writes nothing until
/// confirmed; the active profile's rules read as words, not keys.
#[tokio::test]
async fn policy_switch_asks_to_confirm() {
    let app = spawn_app().await;
    let page = app.get(Role::Commander, "/codes/policy").send().await.unwrap().text().await.unwrap();
    assert!(page.contains("密接") && !page.contains(">close_contact<"), "triggers in words");
    let before = app.store.policy_setting().await.unwrap();
    let resp = app.post(Role::Commander, "/codes/policy").form(&[("profile", "measures-20")]).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.text().await.unwrap();
    assert!(body.contains("data-testid=\"policy-confirm\""), "asks to confirm");
    assert!(body.contains("data-testid=\"policy-change\""), "says what changes: {body}");
    assert!(body.contains("密接"));
    assert_eq!(app.store.policy_setting().await.unwrap(), before, "nothing switched yet");
    let resp = app
        .post(Role::Commander, "/codes/policy")
        .form(&[("profile", "measures-20"), ("confirm", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(app.store.policy_setting().await.unwrap().unwrap().name, "measures-20");
}

/// A lab file's row with several problems reports every one of them at once.
#[tokio::test]
async fn lab_upload_reports_every_problem_of_a_row() {
    let app = spawn_app().await;
    let part = reqwest::multipart::Part::bytes("试管条码,检测结果,Ct值\nAB12,maybe,abc\n".as_bytes().to_vec())
        .file_name("r.csv");
    let r = app
        .post(Role::LabTech, "/testing/lab/upload")
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert_eq!(body.matches("data-testid=\"result-row-error\"").count(), 3, "{body}");
    assert!(body.contains("barcode_invalid") && body.contains("result_invalid"));
}
