; grammar: tree_sitter_zig:language
; extensions: .zig
; separator: .
(function_declaration name: (identifier) @name) @definition.function
(variable_declaration (identifier) @name (struct_declaration) @definition.struct)
(variable_declaration (identifier) @name (enum_declaration) @definition.enum)
(variable_declaration (identifier) @name (union_declaration) @definition.type)
(variable_declaration (identifier) @name (opaque_declaration) @definition.type)
