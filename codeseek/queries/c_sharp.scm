; grammar: tree_sitter_c_sharp:language
; extensions: .cs
; separator: .
(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(struct_declaration name: (identifier) @name) @definition.struct
(interface_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(method_declaration name: (identifier) @name) @definition.method
(constructor_declaration name: (identifier) @name) @definition.method
(local_function_statement name: (identifier) @name) @definition.function
; Properties with code (`=> ...`, or an accessor with a body; not `{ get; set; }`), indexers and
; operators are members a developer looks for like methods.
(property_declaration name: (identifier) @name value: (arrow_expression_clause)) @definition.method
(property_declaration name: (identifier) @name accessors: (accessor_list (accessor_declaration body: (_)))) @definition.method
(indexer_declaration "this" @name) @definition.method
(operator_declaration operator: _ @name) @definition.method
(conversion_operator_declaration type: (_) @name) @definition.method
