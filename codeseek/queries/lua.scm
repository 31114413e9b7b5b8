; grammar: tree_sitter_lua:language
; extensions: .lua
; separator: .
(function_declaration name: [(identifier) (dot_index_expression)] @name) @definition.function
(function_declaration name: (method_index_expression) @name) @definition.method
(assignment_statement
  (variable_list name: (_) @name)
  (expression_list value: (function_definition))) @definition.function
; A module's function made by a wrapper it is passed to (`M.update = throttle_async(opts, function(bufnr) ... end)`,
; `local warn = vim.schedule_wrap(function(msg) ... end)`): named by what it is assigned to. At the top level only:
; inside a body it is a value computed there. Nor where the call computes a value from the function
; (`local ok, err = pcall(function() ... end)`, `local names = vim.tbl_map(function(x) ... end, t)`, `s:gsub(...)`).
(chunk
  (assignment_statement
    (variable_list name: (_) @name)
    (expression_list value: (function_call name: (_) @_callee arguments: (arguments (function_definition))))) @definition.function
  (#not-match? @_callee "(^|[.:])(pcall|xpcall|tbl_map|tbl_filter|tbl_contains|map|filter|fold|each|sort|gsub|defer_fn)$"))
(chunk
  (variable_declaration
    (assignment_statement
      (variable_list name: (_) @name)
      (expression_list value: (function_call name: (_) @_callee arguments: (arguments (function_definition))))) @definition.function)
  (#not-match? @_callee "(^|[.:])(pcall|xpcall|tbl_map|tbl_filter|tbl_contains|map|filter|fold|each|sort|gsub|defer_fn)$"))
