; grammar: tree_sitter_rust:language
; extensions: .rs
; separator: ::
(function_item name: (identifier) @name) @definition.function
(function_signature_item name: (identifier) @name) @definition.function
(struct_item name: (type_identifier) @name) @definition.struct
(union_item name: (type_identifier) @name) @definition.struct
(enum_item name: (type_identifier) @name) @definition.enum
(trait_item name: (type_identifier) @name) @definition.trait
(impl_item trait: (_) @trait type: (_) @name) @definition.impl
(impl_item !trait type: (_) @name) @definition.impl
(mod_item name: (identifier) @name body: (_)) @definition.namespace
(macro_definition name: (identifier) @name) @definition.macro
(type_item name: (type_identifier) @name) @definition.type
