"""`codeseek web`: a local web page to search a repository in the browser (server.py, api.py,
highlight.py, and the page itself in static/)."""
