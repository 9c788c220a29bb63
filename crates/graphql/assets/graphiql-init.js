// Starts GraphiQL against this server's endpoint. Queries run anonymously
// unless the Headers tab names a caller:
// {"Authorization": "Bearer <access token>"}.
(function () {
  var element = document.getElementById('graphiql');
  var fetcher = GraphiQL.createFetcher({ url: element.dataset.endpoint });
  ReactDOM.createRoot(element).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: false,
    })
  );
})();
