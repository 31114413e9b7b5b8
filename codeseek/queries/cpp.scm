; grammar: tree_sitter_cpp:language
; extensions: .cc .cpp .cxx .c++ .hh .hpp .hxx .h++ .ipp
; separator: ::
; Macros the grammar cannot expand, read as spaces (languages.LanguageSpec.blank): export macros
; after `class` (`class SPDLOG_API logger`); upper-case macros with an underscore before a
; declaration's next word (`SPDLOG_INLINE void`, `void SPDLOG_INLINE thread_pool::post_log`,
; `ABSL_MUST_USE_RESULT inline`, `GTEST_API_ std::string`); after a parameter list (`)
; SPDLOG_NOEXCEPT {`, `) const ABSL_LOCKS_EXCLUDED(mu_)`); and alone on a line (`SPDLOG_TRY {`,
; `ABSL_NAMESPACE_BEGIN`), each of which made the grammar misread what followed.
; blank: (?:class|struct)(?<!\wclass)(?<!\wstruct)\s+((?:[A-Z][A-Z0-9_]*[A-Z0-9](?:\([^()\n]*\))?\s+)+)(?=(?!final\b)[A-Za-z_]\w*\s*(?:final\b|[:{]))
; blank: ([A-Z](?<![\w:.>].)[A-Z0-9]*_[A-Z0-9_]*(?:\([^()\n]*\))?\s+(?:[A-Z][A-Z0-9]*_[A-Z0-9_]*(?:\([^()\n]*\))?\s+)*)(?=(?!(?:final|override)\b)[A-Za-z_~])
; blank: (?m)\)(?:[ \t]*(?:const|volatile|noexcept|override|final|&&|&))*[ \t]*((?:[A-Z][A-Z0-9]*_[A-Z0-9_]*(?:\([^()\n]*\))?[ \t]*)+)(?=$|[{;:=]|->|//|/\*|(?:const|noexcept|override|final)\b)
; blank: (?m)\n[ \t]*([A-Z][A-Z0-9]*_[A-Z0-9_]*(?:[ \t]*(?=\{)|(?:\([^()\n]*\))?[ \t]*(?=$|//)))
(function_definition declarator: (function_declarator declarator: (_) @name)) @definition.function
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (_) @name))) @definition.function
(function_definition declarator: (reference_declarator (function_declarator declarator: (_) @name))) @definition.function
(class_specifier name: (_) @name body: (_)) @definition.class
(struct_specifier name: (_) @name body: (_)) @definition.struct
(union_specifier name: (_) @name body: (_)) @definition.struct
(enum_specifier name: (_) @name body: (_)) @definition.enum
(namespace_definition name: (_) @name) @definition.namespace
(concept_definition name: (_) @name) @definition.type
