; grammar: tree_sitter_lua:language
; extensions: .lua
; separator: .
(function_declaration name: [(identifier) (dot_index_expression)] @name) @definition.function
(function_declaration name: (method_index_expression) @name) @definition.method
(assignment_statement
  (variable_list name: (_) @name)
  (expression_list value: (function_definition))) @definition.function
