; grammar: tree_sitter_python:language
; extensions: .py .pyi .pyw
; separator: .
(class_definition name: (identifier) @name) @definition.class
(function_definition name: (identifier) @name) @definition.function
