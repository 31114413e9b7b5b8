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
