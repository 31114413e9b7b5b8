; A module's function made by a wrapper it is passed to (`const onResize = debounce(() => {...}, 100)`,
; `export const Button = forwardRef((props, ref) => {...})`, `exports.handler = wrap(function (req) {...})`): named by
; what it is assigned to. At the top level only: inside a body it is a value computed there. Nor where the call
; computes a value from the function (`const total = xs.reduce((a, x) => a + x)`, `p.then(...)`, a timer's id).
(program
  (_
    (variable_declarator
      name: (identifier) @name
      value: (call_expression
        function: (_) @_callee
        arguments: (arguments [(arrow_function) (function_expression) (generator_function)]))) @definition.function)
  (#not-match? @_callee "(^|[.])(map|filter|reduce|reduceRight|forEach|find|findIndex|findLast|some|every|sort|flatMap|then|catch|finally|setTimeout|setInterval|requestAnimationFrame|fn)$"))
(program
  (export_statement
    declaration: (lexical_declaration
      (variable_declarator
        name: (identifier) @name
        value: (call_expression
          function: (_) @_callee
          arguments: (arguments [(arrow_function) (function_expression) (generator_function)]))) @definition.function))
  (#not-match? @_callee "(^|[.])(map|filter|reduce|reduceRight|forEach|find|findIndex|findLast|some|every|sort|flatMap|then|catch|finally|setTimeout|setInterval|requestAnimationFrame|fn)$"))
(program
  (expression_statement
    (assignment_expression
      left: (member_expression property: (property_identifier) @name)
      right: (call_expression
        function: (_) @_callee
        arguments: (arguments [(arrow_function) (function_expression) (generator_function)]))) @definition.function)
  (#not-match? @_callee "(^|[.])(map|filter|reduce|reduceRight|forEach|find|findIndex|findLast|some|every|sort|flatMap|then|catch|finally|setTimeout|setInterval|requestAnimationFrame|fn)$"))
