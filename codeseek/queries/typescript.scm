; grammar: tree_sitter_typescript:language_typescript
; extensions: .ts .mts .cts
; separator: .
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
; A module's function made by a wrapper it is passed to (`const onResize = debounce(() => {...}, 100)`,
; `export const Button = forwardRef((props, ref) => {...})`, `exports.handler = wrap(function (req) {...})`): named by
; what it is assigned to. At the top level only: inside a body it is a value computed there (`const names = xs.map(...)`).
(program
  [(lexical_declaration
     (variable_declarator
       name: (identifier) @name
       value: (call_expression arguments: (arguments [(arrow_function) (function_expression)]))) @definition.function)
   (variable_declaration
     (variable_declarator
       name: (identifier) @name
       value: (call_expression arguments: (arguments [(arrow_function) (function_expression)]))) @definition.function)
   (export_statement
     declaration: (lexical_declaration
       (variable_declarator
         name: (identifier) @name
         value: (call_expression arguments: (arguments [(arrow_function) (function_expression)]))) @definition.function))
   (expression_statement
     (assignment_expression
       left: (member_expression property: (property_identifier) @name)
       right: (call_expression arguments: (arguments [(arrow_function) (function_expression)]))) @definition.function)])
