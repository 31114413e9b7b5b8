; grammar: tree_sitter_swift:language
; extensions: .swift
; separator: .
(class_declaration declaration_kind: "struct" name: (_) @name) @definition.struct
(class_declaration declaration_kind: "enum" name: (_) @name) @definition.enum
(class_declaration declaration_kind: "extension" name: (_) @name) @definition.extension
(class_declaration name: (_) @name) @definition.class
(protocol_declaration name: (_) @name) @definition.interface
(function_declaration name: (simple_identifier) @name) @definition.function
(protocol_function_declaration name: (simple_identifier) @name) @definition.method
(init_declaration "init" @name) @definition.method
; Operator functions (`static func + (a: Vec, b: Vec)`: their name is the operator), subscripts
; and computed properties are code a developer looks for like a method's.
(function_declaration name: _ @name (#match? @name "^[-+*/%<>=!&|^~?.]+$")) @definition.function
(subscript_declaration "subscript" @name) @definition.function
(property_declaration name: (pattern bound_identifier: (simple_identifier) @name)
  computed_value: (computed_property)) @definition.function
