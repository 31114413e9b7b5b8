; grammar: tree_sitter_kotlin:language
; extensions: .kt .kts
; separator: .
; join: \bclass[ \t]+\w+(?:<[^>{}\n]*>)?[ \t]*(\n[ \t]+)(?=(?:(?:public|internal|private|protected)[ \t]+)?(?:@\w+[ \t]+)*constructor\b)
(class_declaration "interface" name: (identifier) @name) @definition.interface
(class_declaration (modifiers (class_modifier "enum")) name: (identifier) @name) @definition.enum
(class_declaration name: (identifier) @name) @definition.class
(object_declaration name: (identifier) @name) @definition.object
; An extension function or property is named by the type it extends: `(List).secondOrNull`.
(function_declaration [(user_type (identifier) @receiver) (nullable_type (user_type (identifier) @receiver))]
  name: (identifier) @name) @definition.function
(function_declaration name: (identifier) @name) @definition.function
; A property with a getter or setter body is code a developer looks for like a function's.
(property_declaration [(user_type (identifier) @receiver) (nullable_type (user_type (identifier) @receiver))]
  (variable_declaration (identifier) @name)
  [(getter (function_body)) (setter (function_body))]) @definition.function
(property_declaration (variable_declaration (identifier) @name)
  [(getter (function_body)) (setter (function_body))]) @definition.function
