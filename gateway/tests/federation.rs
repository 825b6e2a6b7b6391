//! TEMPORARY size probe (removed after measuring).
#[tokio::test]
async fn size_probe() {
    if std::env::var_os("CADENA_SIZE_PROBE_NEVER_SET").is_some() {
        let config = cadena_gateway::NodeConfig::load(std::path::Path::new("x")).unwrap();
        let node = cadena_gateway::Node::start(config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        node.serve(listener, std::future::pending()).await.unwrap();
        let options =
            cadena_gateway::dev_network::DevOptions { data_dir: "x".into(), countries: Vec::new(), port_base: 0 };
        cadena_gateway::dev_network::run(options, std::future::pending()).await.unwrap();
        use cadena_gateway::federation::*;
        let sdl = compose(&[Subgraph { name: "a".into(), url: "http://x".into(), sdl: String::new() }]).await.unwrap();
        let engine = Engine::new(&sdl, Default::default()).unwrap();
        let body = engine.execute(GraphQLRequest::default(), Default::default()).await.unwrap();
        let stream = engine.subscribe(GraphQLRequest::default(), Default::default()).await.unwrap();
        std::hint::black_box((body, stream));
    }
}
