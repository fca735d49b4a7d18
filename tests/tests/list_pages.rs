//! Lists read from etcd (no `resourceVersion=0`) page with `limit` and `continue` as
//! kube-apiserver's do (what `kubectl get` sends, 500 at a time): every page at the first page's
//! revision, the selectors applied before the limit counts, and the last page without a token.

use flotilla_api::SwarmService;
use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::fixtures::tiered_service as service;
use kube::api::{Api, ListParams, PostParams};

#[tokio::test(flavor = "multi_thread")]
async fn stored_lists_page_by_limit_and_continue_at_one_revision() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let client = server.client().await.unwrap();
    let api: Api<SwarmService> = Api::namespaced(client, "default");
    let pp = PostParams::default();
    for i in 0..7u32 {
        let tier = if i.is_multiple_of(3) { "back" } else { "front" };
        api.create(&pp, &service(&format!("s{i}"), tier))
            .await
            .unwrap();
    }
    let mut params = ListParams::default().labels("tier=front").limit(2);
    let (mut names, mut pages, mut revisions) = (Vec::new(), 0, Vec::new());
    loop {
        let page = api.list(&params).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 2, "a page holds at most the limit");
        names.extend(page.items.iter().map(|s| s.metadata.name.clone().unwrap()));
        revisions.push(page.metadata.resource_version.clone().unwrap());
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => {
                // Written after the first page: not in this list, which reads one revision.
                if pages == 1 {
                    api.create(&pp, &service("s9", "front")).await.unwrap();
                }
                params = params.continue_token(&token);
            }
            _ => break,
        }
    }
    assert_eq!(names, ["s1", "s2", "s4", "s5"]);
    assert!(pages >= 2, "four objects at two per page: {pages} pages");
    revisions.dedup();
    assert_eq!(revisions.len(), 1, "every page at the first one's revision");
    let whole = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(whole.items.len(), 8);
    assert_eq!(whole.metadata.continue_, None);
}
