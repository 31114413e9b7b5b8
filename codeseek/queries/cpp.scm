; grammar: tree_sitter_cpp:language
; extensions: .cc .cpp .cxx .c++ .hh .hpp .hxx .h++ .ipp
; separator: ::
; blank: \b(?:class|struct)\s+((?:[A-Z][A-Z0-9_]*[A-Z0-9](?:\([^()\n]*\))?\s+)+)(?=(?!final\b)[A-Za-z_]\w*\s*(?:final\b|[:{]))
(function_definition declarator: (function_declarator declarator: (_) @name)) @definition.function
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (_) @name))) @definition.function
(function_definition declarator: (reference_declarator (function_declarator declarator: (_) @name))) @definition.function
(class_specifier name: (_) @name body: (_)) @definition.class
(struct_specifier name: (_) @name body: (_)) @definition.struct
(union_specifier name: (_) @name body: (_)) @definition.struct
(enum_specifier name: (_) @name body: (_)) @definition.enum
(namespace_definition name: (_) @name) @definition.namespace
(concept_definition name: (_) @name) @definition.type
