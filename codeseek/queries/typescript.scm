; grammar: tree_sitter_typescript:language_typescript
; extensions: .ts .mts .cts
; separator: .
; includes: wrapped_js
(class_declaration name: (_) @name) @definition.class
(abstract_class_declaration name: (_) @name) @definition.class
(class name: (_) @name) @definition.class
(function_declaration name: (_) @name) @definition.function
(generator_function_declaration name: (_) @name) @definition.function
(function_signature name: (_) @name) @definition.function
(method_definition name: (_) @name) @definition.method
(abstract_method_signature name: (_) @name) @definition.method
(public_field_definition
  name: (_) @name
  value: [(arrow_function) (function_expression)]) @definition.method
(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @definition.function
(interface_declaration name: (_) @name) @definition.interface
(type_alias_declaration name: (_) @name) @definition.type
(enum_declaration name: (_) @name) @definition.enum
(internal_module name: (_) @name) @definition.namespace
; An object literal's function-valued properties, as JavaScript's (`render: function (node) {...}`,
; `close: () => {...}`); a shorthand method `parse() {...}` is a method_definition above.
(pair
  key: (property_identifier) @name
  value: [(arrow_function) (function_expression)]) @definition.function
