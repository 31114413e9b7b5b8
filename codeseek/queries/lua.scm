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
; inside a body, such an assignment is a value computed there (`local names = vim.tbl_map(function(x) ... end, t)`).
(chunk
  (assignment_statement
    (variable_list name: (_) @name)
    (expression_list value: (function_call arguments: (arguments (function_definition))))) @definition.function)
(chunk
  (variable_declaration
    (assignment_statement
      (variable_list name: (_) @name)
      (expression_list value: (function_call arguments: (arguments (function_definition))))) @definition.function))
