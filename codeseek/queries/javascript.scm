; grammar: tree_sitter_javascript:language
; extensions: .js .mjs .cjs .jsx
; separator: .
(class_declaration name: (_) @name) @definition.class
(class name: (_) @name) @definition.class
(function_declaration name: (_) @name) @definition.function
(generator_function_declaration name: (_) @name) @definition.function
(method_definition name: (_) @name) @definition.method
(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @definition.function
(assignment_expression
  right: (function_expression name: (identifier) @name)) @definition.function
(assignment_expression
  left: (member_expression property: (property_identifier) @name)
  right: [(arrow_function) (function_expression !name)]) @definition.function
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
