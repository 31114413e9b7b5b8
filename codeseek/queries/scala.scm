; grammar: tree_sitter_scala:language
; extensions: .scala .sc
; separator: .
(class_definition name: (_) @name) @definition.class
(object_definition name: (_) @name) @definition.object
(trait_definition name: (_) @name) @definition.trait
(enum_definition name: (_) @name) @definition.enum
(function_definition name: (_) @name) @definition.function
(function_declaration name: (_) @name) @definition.function
; Scala 3: a given instance holds its members as an object does; an extension's methods are the
; extended type's (`extension (p: Point) def shifted` is Point.shifted).
(given_definition name: (_) @name) @definition.object
(given_definition !name return_type: (_) @name) @definition.object
(extension_definition parameters: (parameters . (parameter type: (_) @name))) @definition.extension
